"""Possibly outdated feedback: `page_changed_at`, marked now for the feedback whose section
of the page already differs from the version it was written against (feedback/outdated.py
keeps it current from here on)."""

from django.conf import settings
from django.db import migrations, models


SECTION_FIELDS = {
    "definition": ["name", "definition"],
    "additional_information": ["additional_information"],
    "reasoning": ["reasoning", "classified_by", "category_id"],
}


def mark_existing(apps, schema_editor):
    qn = schema_editor.connection.ops.quote_name
    for section, fields in SECTION_FIELDS.items():
        differs = " OR ".join(f"h.{qn(f)} IS DISTINCT FROM m.{qn(f)}" for f in fields)
        if schema_editor.connection.vendor == "sqlite":
            differs = " OR ".join(f"h.{qn(f)} IS NOT m.{qn(f)}" for f in fields)
        # Names from the constants above, quoted; the section is a parameter.
        schema_editor.execute(
            "UPDATE feedback_feedback SET page_changed_at = CURRENT_TIMESTAMP "  # noqa: S608
            "WHERE section = %s AND page_changed_at IS NULL AND EXISTS ("
            "SELECT 1 FROM mitigations_historicalmitigation h, mitigations_mitigation m "
            "WHERE h.history_id = feedback_feedback.page_version "
            f"AND m.id = feedback_feedback.mitigation_id AND ({differs}))",
            [section],
        )


class Migration(migrations.Migration):

    dependencies = [
        ('feedback', '0009_reply_templates'),
        ('mitigations', '0004_search_vector_inline'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='feedback',
            name='page_changed_at',
            field=models.DateTimeField(blank=True, editable=False, help_text='When its section of the page changed since the version it was written against (possibly outdated; feedback/outdated.py)', null=True),
        ),
        migrations.AddIndex(
            model_name='feedback',
            index=models.Index(models.OrderBy(models.F('created_at'), descending=True), models.OrderBy(models.F('id'), descending=True), condition=models.Q(('page_changed_at__isnull', False)), name='fb_page_changed_created'),
        ),
        migrations.RunPython(mark_existing, migrations.RunPython.noop),
]
