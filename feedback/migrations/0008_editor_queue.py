"""The editors' queue: who claimed an item, which item it duplicates, and indexes for the
queue's presets ("needs a resolution", "mine", "overdue")."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("feedback", "0007_page_helpfulness"),
        ("mitigations", "0004_search_vector_inline"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="feedback",
            name="claimed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="feedback",
            name="claimed_by",
            field=models.ForeignKey(
                blank=True,
                help_text="The editor handling this item",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="feedback",
            name="duplicate_of",
            field=models.ForeignKey(
                blank=True,
                help_text="Answered together with this item: its resolution and reply apply here too",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="duplicates",
                to="feedback.feedback",
            ),
        ),
        migrations.AddField(
            model_name="historicalfeedback",
            name="claimed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="historicalfeedback",
            name="claimed_by",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                help_text="The editor handling this item",
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="historicalfeedback",
            name="duplicate_of",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                help_text="Answered together with this item: its resolution and reply apply here too",
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="feedback.feedback",
            ),
        ),
        migrations.AddIndex(
            model_name="feedback",
            index=models.Index(
                fields=["status", "resolution", "-created_at", "-id"], name="fb_status_res_created"
            ),
        ),
        migrations.AddIndex(
            model_name="feedback",
            index=models.Index(
                fields=["claimed_by", "-created_at", "-id"], name="fb_claimed_created"
            ),
        ),
        migrations.AddIndex(
            model_name="feedback",
            index=models.Index(
                condition=models.Q(
                    ("status", "pending"),
                    models.Q(("resolution", "open"), ("status", "approved")),
                    _connector="OR",
                ),
                fields=["created_at", "id"],
                name="fb_open_work_created",
            ),
        ),
    ]
