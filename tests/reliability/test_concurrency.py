"""Concurrency on PostgreSQL: two editors moderating one item at once, and an import running
while readers download the catalogue. Real threads, each with its own database connection.
"""

import csv
import shutil
import threading
import time
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from feedback import services
from feedback.models import Feedback
from mitigations.importer import import_dataset, pipeline, writing
from mitigations.models import Mitigation
from tests.factories import FeedbackFactory, UserFactory
from tests.reliability.conftest import needs_postgres

pytestmark = [pytest.mark.postgres, needs_postgres, pytest.mark.django_db(transaction=True)]

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"
HOLD_SECONDS = 0.4  # how long the first editor keeps the row locked


def run_threads(*targets):
    errors = []

    def wrap(target):
        def run():
            try:
                target()
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)
            finally:
                connection.close()  # each thread has its own connection

        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []


@pytest.mark.parametrize(
    ("first", "second", "both_kept"),
    [
        # The same field, different decisions: one wins, consistently.
        ({"status": "approved"}, {"status": "rejected"}, False),
        # Different fields: neither change may be lost (no stale read-modify-write).
        ({"status": "rejected"}, {"resolution": "declined", "reply": "Out of scope."}, True),
    ],
    ids=["approve-vs-reject", "reject-and-decline"],
)
def test_two_editors_moderating_the_same_feedback_at_once(
    roles, monkeypatch, first, second, both_kept
):
    one = UserFactory(username="editor-one", role="editor")
    two = UserFactory(username="editor-two", role="editor")
    item = FeedbackFactory()
    # Whoever saves first keeps its transaction (and the row lock) open a little longer, so
    # the other editor's moderate() certainly runs while the row is locked.
    original_save, saved = Feedback.save, []

    def slow_save(self, *args, **kwargs):
        original_save(self, *args, **kwargs)
        saved.append(threading.current_thread().name)
        if len(saved) == 1:
            time.sleep(HOLD_SECONDS)

    monkeypatch.setattr(Feedback, "save", slow_save)
    start = threading.Barrier(2)
    took = {}

    def moderate(user, changes):
        def run():
            start.wait()
            began = time.monotonic()
            assert services.moderate([item.pk], user, **changes) == 1
            took[user.username] = time.monotonic() - began

        return run

    run_threads(moderate(one, first), moderate(two, second))

    item.refresh_from_db()
    changes = list(item.history.filter(history_type="~").order_by("history_id"))
    assert len(changes) == 2
    assert {c.history_user for c in changes} == {one, two}
    winner = changes[-1].history_user
    loser = changes[0].history_user
    # The second editor waited for the first one's lock rather than working on a stale row.
    assert took[winner.username] >= HOLD_SECONDS * 0.8
    # The row is the last history version, attributed to the editor who acted last.
    assert item.moderated_by == winner
    latest = changes[-1]
    assert (latest.status, latest.resolution, latest.public_reply) == (
        item.status,
        item.resolution,
        item.public_reply,
    )
    by_user = {one: first, two: second}
    if both_kept:
        assert (item.status, item.resolution, item.public_reply) == (
            "rejected",
            "declined",
            "Out of scope.",
        )
    else:
        assert changes[0].status == by_user[loser]["status"]
        assert item.status == by_user[winner]["status"]


def b_version_of(source: Path, target: Path) -> int:
    """Copy a CSV dataset, every mitigation definition changed to 'B-version …'."""
    shutil.copytree(source, target)
    path = target / "mitigations.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = list(rows[0])
    for row in rows:
        row["definition"] = f"B-version {row['definition']}"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def test_readers_during_an_import_see_all_old_or_all_new_definitions(roles, tmp_path, monkeypatch):
    import_dataset(DEMO)
    b_version_of(DEMO, tmp_path / "b")
    # Many small UPDATE statements, each a little slow: the import's transaction stays open
    # long enough for many reads, and a non-atomic import would be caught half-way.
    monkeypatch.setattr(writing, "BATCH_SIZE", 4)

    def slow_updates(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("UPDATE") and "mitigations_mitigation" in sql:
            time.sleep(0.05)
            try:
                return execute(sql, params, many, context)
            finally:
                if "end" not in window:  # the import's own writes, inside its transaction
                    window["last_write"] = time.monotonic()
        return execute(sql, params, many, context)

    window = {}
    reads = []  # (started, finished, "old" | "new" | "mixed")
    importing = threading.Event()

    # The window ends when the import commits: its first after-commit step (the data
    # version) says when. What runs after that (feedback on the changed pages marked
    # "page changed since") is no longer the import's transaction.
    bump = pipeline.bump_data_version

    def committed():
        window.setdefault("end", time.monotonic())
        bump()

    monkeypatch.setattr(pipeline, "bump_data_version", committed)

    def run_import():
        with connection.execute_wrapper(slow_updates):
            window["start"] = time.monotonic()
            importing.set()
            report = import_dataset(tmp_path / "b")
            window["returned"] = time.monotonic()
        assert report.tables and report.changed

    def read():
        client = Client()
        importing.wait(timeout=30)
        while "returned" not in window or len([r for r in reads if r[0] > window["end"]]) < 3:
            began = time.monotonic()
            response = client.get("/mitigations/export.json")
            assert response.status_code == 200
            definitions = [m["definition"] for m in response.json()["mitigations"]]
            new = sum(d.startswith("B-version ") for d in definitions)
            kind = "new" if new == len(definitions) else "old" if new == 0 else "mixed"
            reads.append((began, time.monotonic(), kind, new, len(definitions)))

    run_threads(run_import, read)

    assert [r for r in reads if r[2] == "mixed"] == []
    # Reads that ended before the import's last write ended surely ran before its commit
    # (the after-commit step that sets "end" runs a moment after the commit itself: a read
    # in between rightly sees the new definitions).
    during = [r for r in reads if r[0] > window["start"] and r[1] < window["last_write"]]
    assert len(during) >= 3, (window, reads)  # the reads really overlapped the import
    assert {r[2] for r in during} == {"old"}
    assert reads[-1][2] == "new"
    assert Mitigation.objects.exclude(definition__startswith="B-version ").count() == 0
