"""The public date and version of a page (moved only by changes readers can see).

Existing pages start from their last change: public_updated_at = updated_at, version 1."""

import django.utils.timezone
from django.db import migrations, models


def start_from_updated_at(apps, schema_editor):
    Mitigation = apps.get_model("mitigations", "Mitigation")
    Mitigation.objects.update(public_updated_at=models.F("updated_at"))


class Migration(migrations.Migration):

    dependencies = [
        ('mitigations', '0005_mitigation_code_validator'),
    ]

    operations = [
        migrations.AddField(
            model_name='historicalmitigation',
            name='public_version',
            field=models.PositiveIntegerField(default=1, editable=False),
        ),
        migrations.AddField(
            model_name='mitigation',
            name='public_updated_at',
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now, editable=False),
        ),
        migrations.AddField(
            model_name='mitigation',
            name='public_version',
            field=models.PositiveIntegerField(default=1, editable=False),
        ),
        migrations.RunPython(start_from_updated_at, migrations.RunPython.noop),
    ]
