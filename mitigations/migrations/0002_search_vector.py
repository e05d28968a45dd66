"""PostgreSQL full-text search: a trigger keeps `search_vector` current; a GIN index serves it.

Weights: name A, definition B, additional information C, reasoning D. On SQLite the column
stays empty and search falls back to LIKE queries (mitigations/search.py).
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION mitigations_search_vector_update() RETURNS trigger AS $$
BEGIN
  NEW.search_vector :=
      setweight(to_tsvector('english', coalesce(NEW.name, '')), 'A')
   || setweight(to_tsvector('english', coalesce(NEW.definition, '')), 'B')
   || setweight(to_tsvector('english', coalesce(NEW.additional_information, '')), 'C')
   || setweight(to_tsvector('english', coalesce(NEW.reasoning, '')), 'D');
  RETURN NEW;
END
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS mitigations_search_vector_trigger ON mitigations_mitigation;
CREATE TRIGGER mitigations_search_vector_trigger
  BEFORE INSERT OR UPDATE ON mitigations_mitigation
  FOR EACH ROW EXECUTE FUNCTION mitigations_search_vector_update();
CREATE INDEX IF NOT EXISTS mitigations_search_vector_gin
  ON mitigations_mitigation USING gin (search_vector);
UPDATE mitigations_mitigation SET name = name;
"""

BACKWARD = """
DROP INDEX IF EXISTS mitigations_search_vector_gin;
DROP TRIGGER IF EXISTS mitigations_search_vector_trigger ON mitigations_mitigation;
DROP FUNCTION IF EXISTS mitigations_search_vector_update();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("mitigations", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
