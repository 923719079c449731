"""The inbox's text filter (title ILIKE '%...%') needs a trigram index on PostgreSQL.

SQLite (the embedded default) has no such index type; there the filter scans, which is
fine at its size.
"""

from django.db import migrations


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS task_title_trgm_idx ON humantasks_humantask USING gin (title gin_trgm_ops)"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS task_title_trgm_idx")


class Migration(migrations.Migration):
    dependencies = [("humantasks", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
