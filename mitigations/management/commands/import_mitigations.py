"""`manage.py import_mitigations PATH [--dry-run]`: load a dataset (docs/data-format.md)."""

import sys

from django.core.management.base import BaseCommand, CommandError

from mitigations.importer import DatasetError, TqdmProgress, import_dataset


class Command(BaseCommand):
    help = (
        "Import a dataset: a folder of CSV files or one .json file in the format of "
        "docs/data-format.md. Idempotent upsert; all or nothing; every problem is printed to "
        "stderr as file:row:column: message."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="a folder of CSV files, or a .json file")
        parser.add_argument(
            "--dry-run", action="store_true", help="check and count the changes, write nothing"
        )
        parser.add_argument(
            "--progress",
            action="store_true",
            default=None,
            help="show progress bars on stderr (default: only when stderr is a terminal)",
        )
        parser.add_argument("--no-progress", action="store_false", dest="progress")

    def handle(self, path, dry_run, progress, **options):
        if progress is None:
            progress = sys.stderr.isatty()
        try:
            report = import_dataset(
                path, dry_run=dry_run, progress=TqdmProgress(sys.stderr) if progress else None
            )
        except DatasetError as exc:
            for problem in exc.problems:
                self.stderr.write(str(problem))
            count = len(exc.problems)
            raise CommandError(
                f"{count} problem{'' if count == 1 else 's'} found; nothing was imported."
            ) from None
        self.stdout.write(str(report))
        if dry_run:
            self.stdout.write(f"{report.changed} rows would change; nothing was written.")
        else:
            self.stdout.write(f"{report.changed} rows changed in {report.seconds:.1f} s.")
