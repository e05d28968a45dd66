"""Progress reports of long steps: a callable `(step, done, total)` or a tqdm bar."""

import sys
from collections.abc import Callable

from tqdm import tqdm

PROGRESS_THRESHOLD = 1000  # steps with at most this many rows are not reported

Progress = Callable[[str, int, int], None]


def ticker(progress: Progress | None, step: str, total: int) -> Callable[[int], None]:
    """A `tick(done)` for a step of `total` rows, reporting every 500 rows and at the end."""
    if progress is None or total <= PROGRESS_THRESHOLD:
        return lambda done: None

    def tick(done):
        if done % 500 == 0 or done == total:
            progress(step, done, total)

    return tick


class TqdmProgress:
    """A `progress` callable drawing one tqdm bar per step on stderr."""

    def __init__(self, file=None):
        self.file = file or sys.stderr
        self.step, self.bar = None, None

    def __call__(self, step: str, done: int, total: int):
        if step != self.step:
            self.close()
            self.step = step
            self.bar = tqdm(total=total, desc=step, unit="rows", file=self.file, leave=False)
        self.bar.n = done
        self.bar.refresh()

    def close(self):
        if self.bar is not None:
            self.bar.close()
        self.step, self.bar = None, None
