"""Migration operations the project's migrations share."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def index_dropped(name: str, *, table: str, column: str) -> migrations.RunPython:
    """Drop the index `name`; reversed, build it again on `table` (`column`). On PostgreSQL
    both run CONCURRENTLY, so neither holds the table's write lock (a plain DROP INDEX waits
    behind any long transaction, and every write then waits behind it); the migration must be
    `atomic = False`. By name, so that SQLite does not rebuild the table as AlterField does."""

    def concurrently(schema_editor: Any) -> str:
        return "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""

    def drop(apps: Any, schema_editor: Any) -> None:
        how = concurrently(schema_editor)
        schema_editor.execute(f"DROP INDEX {how}IF EXISTS {schema_editor.quote_name(name)}")

    def build(apps: Any, schema_editor: Any) -> None:
        how, quote = concurrently(schema_editor), schema_editor.quote_name
        on = f"{quote(table)} ({quote(column)})"
        schema_editor.execute(f"CREATE INDEX {how}IF NOT EXISTS {quote(name)} ON {on}")

    return migrations.RunPython(drop, build)
