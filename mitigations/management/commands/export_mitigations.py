"""`manage.py export_mitigations PATH [--format csv|json]`: write the whole catalogue.

An editors' tool: it exports everything, drafts and restricted figures included (whoever runs
manage.py can read the database anyway). Public downloads go through the visibility policy in
mitigations/exports.py instead. The output imports back unchanged (export -> import -> export
gives byte-identical files).
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from mitigations import dataset
from mitigations.exports import read_snapshot
from mitigations.models import Figure, Mitigation


class Command(BaseCommand):
    help = (
        "Export every table in the import format: PATH a folder -> one CSV per table; "
        "PATH ending in .json -> one JSON file. Includes drafts and restricted figures."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument(
            "--format", choices=["csv", "json"], help="default: json if PATH ends in .json"
        )

    def handle(self, path, format, **options):
        target = Path(path)
        fmt = format or ("json" if target.suffix.lower() == ".json" else "csv")
        if fmt == "json" and target.is_dir():
            raise CommandError(f"{target} is a folder; give a file name ending in .json.")
        if fmt == "csv" and (target.is_file() or target.suffix.lower() == ".json"):
            raise CommandError(f"{target} is not a folder; CSV export writes one file per table.")
        with read_snapshot():  # an import committing meanwhile: all of it or none of it
            tables = dataset.export_tables(Mitigation.objects.all(), Figure.objects.all())
        if fmt == "json":
            dataset.write_json(tables, target)
        else:
            dataset.write_csv_folder(tables, target)
        counts = ", ".join(f"{len(rows)} {name}" for name, rows in tables.items())
        self.stdout.write(f"Exported {counts} to {target}.")
