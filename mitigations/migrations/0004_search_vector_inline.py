"""PostgreSQL: keep `search_vector` in the table row (compressed) instead of the TOAST table.

A search for a common word evaluates and ranks the vector of most rows; fetched out of line,
each costs a TOAST index lookup and chunk reads (measured with 10,000 mitigations: the count
for "model" 26 -> 10 ms, the ranked first page 67 -> 16 ms). STORAGE MAIN still moves a
vector out of line when a row cannot fit a page otherwise. The UPDATE lets the trigger of
0002 write every vector again, so existing rows move too. Nothing happens on SQLite.
"""

from django.db import migrations

FORWARD = """
ALTER TABLE mitigations_mitigation ALTER COLUMN search_vector SET STORAGE MAIN;
UPDATE mitigations_mitigation SET name = name;
"""

BACKWARD = """
ALTER TABLE mitigations_mitigation ALTER COLUMN search_vector SET STORAGE EXTENDED;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("mitigations", "0003_name_index")]
    operations = [migrations.RunPython(forward, backward, elidable=False)]
