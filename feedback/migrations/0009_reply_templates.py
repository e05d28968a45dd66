"""Canned public replies editors choose on the feedback change form, a few to start with."""

from django.db import migrations, models

STARTERS = [
    ("error", "addressed", "Corrected", "Thank you: we have corrected the page."),
    (
        "error",
        "declined",
        "Checked, no change",
        "Thank you: we checked the sources and the page is right as it stands.",
    ),
    ("source", "addressed", "Source added", "Thank you: we have added the source to the page."),
    (
        "classification",
        "declined",
        "Classification kept",
        "Thank you: we reviewed the classification and keep the current category; the reasoning section explains why.",
    ),
    (
        "classification",
        "addressed",
        "Reclassified",
        "Thank you: we moved the mitigation to the category you proposed.",
    ),
    (
        "",
        "addressed",
        "Will be in the next update",
        "Thank you: this will be part of the next update of the database.",
    ),
]


def add_starters(apps, schema_editor):
    template = apps.get_model("feedback", "ReplyTemplate")
    for position, (kind, resolution, title, text) in enumerate(STARTERS):
        template.objects.get_or_create(
            title=title,
            defaults={"kind": kind, "resolution": resolution, "text": text, "position": position},
        )


class Migration(migrations.Migration):
    dependencies = [("feedback", "0008_editor_queue")]

    operations = [
        migrations.CreateModel(
            name="ReplyTemplate",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("error", "Something is wrong"),
                            ("source", "Missing or wrong source"),
                            ("classification", "I disagree with the classification"),
                            ("suggestion", "Suggestion"),
                            ("other", "Other"),
                        ],
                        help_text="Offered for feedback of this kind; empty: for every kind",
                        max_length=20,
                    ),
                ),
                (
                    "resolution",
                    models.CharField(
                        blank=True,
                        choices=[("addressed", "Addressed"), ("declined", "Declined")],
                        help_text="Also set this resolution when the template is chosen (optional)",
                        max_length=10,
                    ),
                ),
                ("title", models.CharField(max_length=80)),
                ("text", models.TextField(max_length=5000)),
                ("position", models.PositiveSmallIntegerField(default=0)),
            ],
            options={"ordering": ["position", "title"]},
        ),
        migrations.RunPython(add_starters, migrations.RunPython.noop),
    ]
