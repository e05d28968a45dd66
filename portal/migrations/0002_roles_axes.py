"""Editors may read the sign-in log and clear lockouts (django-axes)."""

from django.db import migrations

from portal.migrations._roles import sync


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0001_roles"),
        ("axes", "0010_accessattemptexpiration"),
        ("feedback", "0003_search_trigram"),
    ]
    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
