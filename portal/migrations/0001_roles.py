"""Create the role groups (reviewer, editor) with their permissions, from portal/lib/access.py."""

from django.db import migrations

from portal.migrations._roles import sync


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("mitigations", "0002_search_vector"),
        ("feedback", "0001_initial"),
    ]
    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
