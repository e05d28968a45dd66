"""Editors maintain the canned feedback replies (feedback.ReplyTemplate)."""

from django.db import migrations

from portal.migrations._roles import sync


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0003_roles_accounts"),
        ("feedback", "0007_reply_templates"),
    ]
    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
