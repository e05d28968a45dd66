"""Editors may see accounts, invite reviewers and reset a reviewer's second factor."""

from django.db import migrations

from portal.migrations._roles import sync


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0002_roles_axes"),
        ("accounts", "0002_invitation"),
        ("otp_totp", "0003_add_timestamps"),
        ("otp_static", "0003_add_timestamps"),
    ]
    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
