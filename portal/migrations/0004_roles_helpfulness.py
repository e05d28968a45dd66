"""Editors may read the "Was this page helpful?" counts."""

from django.db import migrations

from portal.migrations._roles import sync


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0003_roles_accounts"),
        ("feedback", "0007_page_helpfulness"),
    ]
    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
