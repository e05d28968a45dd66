"""Editors maintain the canned feedback replies (feedback.ReplyTemplate)."""

from django.db import migrations

from portal.migrations._roles import sync


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0004_roles_helpfulness"),
        ("feedback", "0009_reply_templates"),
    ]
    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
