"""An index for the moderation queue filtered by status and kind, newest first.

With a status filter the queue is ordered by (-created_at, -id) (the pending-first rank is
the same for every row), so `WHERE status = %s AND kind = %s ORDER BY created_at DESC, id
DESC LIMIT 50` and its capped count read this index instead of walking the queue index past
every other row. PostgreSQL builds it CONCURRENTLY (so the migration is not atomic) to avoid
locking a large table; other databases get the plain index.
"""

from django.db import migrations, models

INDEX = models.Index(fields=["status", "kind", "-created_at", "-id"], name="fb_status_kind_created")


def forward(apps, schema_editor):
    model = apps.get_model("feedback", "Feedback")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS fb_status_kind_created "
            "ON feedback_feedback (status, kind, created_at DESC, id DESC)"
        )
    else:
        schema_editor.add_index(model, INDEX)


def backward(apps, schema_editor):
    model = apps.get_model("feedback", "Feedback")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS fb_status_kind_created")
    else:
        schema_editor.remove_index(model, INDEX)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("feedback", "0003_search_trigram")]
    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forward, backward, elidable=False)],
            state_operations=[migrations.AddIndex(model_name="feedback", index=INDEX)],
        )
    ]
