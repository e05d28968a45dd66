"""PostgreSQL: pg_trgm, for the search's "Did you mean" (mitigations/search.py). A trusted
extension: the database owner may create it. Nothing happens on SQLite."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("mitigations", "0007_figureview_stamp")]

    operations = [TrigramExtension()]
