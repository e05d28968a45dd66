"""PostgreSQL: trigram indexes for the admin's case-insensitive search over large tables.

The admin searches with `UPPER(col::text) LIKE UPPER('%term%')`; a GIN trigram index on the
same expression serves it instead of a scan of every row. Built CONCURRENTLY (so the
migration is not atomic) to avoid locking a large table. Nothing happens on SQLite.
"""

from django.db import migrations

COLUMNS = ("comment", "name", "email")


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS fb_{column}_trgm ON feedback_feedback "
            f"USING gin ((UPPER({column}::text)) gin_trgm_ops)"
        )


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS fb_{column}_trgm")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("feedback", "0002_queue_index")]
    operations = [migrations.RunPython(forward, backward, elidable=False)]
