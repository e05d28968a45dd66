"""`import_dataset`: read, convert, check, compare and write, in one transaction."""

import time
from functools import partial
from pathlib import Path

from django.db import transaction

from mitigations.importer import checks, diffing, writing
from mitigations.importer.cells import column_converters, convert_table
from mitigations.importer.plan import Plan
from mitigations.importer.problems import DatasetError, ImportReport, Problems
from mitigations.importer.progress import Progress, TqdmProgress, ticker
from mitigations.importer.reading import DEFAULT_MAX_BYTES, DEFAULT_MAX_JSON_BYTES, read_dataset
from mitigations.models import Mitigation
from mitigations.signals import pages_changed
from portal.lib.page_cache import bump_data_version


def import_dataset(
    path,
    *,
    dry_run: bool = False,
    progress: Progress | bool | None = None,
    user=None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_json_bytes: int = DEFAULT_MAX_JSON_BYTES,
) -> ImportReport:
    """Validate the dataset at `path` and upsert it; raise DatasetError, writing nothing,
    if anything is wrong. `user` is recorded as the author of the history versions."""
    started = time.monotonic()
    path = Path(path)
    problems = Problems()
    if progress is True:
        progress = TqdmProgress()
    try:
        tables, source = read_dataset(path, max_bytes, max_json_bytes, problems)
        columns = column_converters()
        records = {}
        for name, table in tables.items():
            tick = ticker(progress, f"checking {name}", len(table.rows))
            records[name] = convert_table(table, columns[name], problems, tick)
        report = ImportReport(source=source, dry_run=dry_run, tables=list(tables))
        with transaction.atomic():
            plan = Plan(tables, records, problems, report, progress)
            checks.check(plan)
            if problems:
                raise DatasetError(problems.sorted())
            report.renames = plan.renames
            diffing.diff(plan)
            if dry_run:
                transaction.set_rollback(True)
            else:
                writing.write(plan, user=user, reason=f"Import of {source}"[:100])
                if report.changed:
                    transaction.on_commit(bump_data_version)
                updated = [page.pk for page in report.pages if page.kind == "updated"]
                if updated:
                    # Bulk writes send no model signals: say which pages changed.
                    transaction.on_commit(
                        partial(pages_changed.send, sender=Mitigation, pks=updated)
                    )
    finally:
        if hasattr(progress, "close"):
            progress.close()
    report.seconds = time.monotonic() - started
    return report
