"""Assertions about what a block of code wrote to the database."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, models

from apps.audit.models import AuditEvent
from apps.humantasks.models import HumanTask, HumanTaskUserObjectPermission
from apps.workflows.models import WorkflowInstance

WATCHED_TABLES: tuple[type[models.Model], ...] = (
    WorkflowInstance,
    HumanTask,
    AuditEvent,
    HumanTaskUserObjectPermission,
)


def _row(obj: models.Model) -> dict[str, Any]:
    return type(obj)._base_manager.filter(pk=obj.pk).values().get()


def _table_heads() -> dict[str, tuple[int, int | None]]:
    return {
        model.__name__: (model.objects.count(), model.objects.aggregate(last=models.Max("pk"))["last"])
        for model in WATCHED_TABLES
    }


@contextmanager
def writes_nothing(*objects: models.Model) -> Iterator[None]:
    """The block adds no instance, task, audit event or task grant, and leaves every row in
    `objects` exactly as it was (state, version, timestamps, data)."""
    tables_before = _table_heads()
    rows_before = [_row(obj) for obj in objects]
    yield
    assert _table_heads() == tables_before
    assert [_row(obj) for obj in objects] == rows_before


def audit_actions(instance: WorkflowInstance) -> list[str]:
    """The actions recorded in the instance's audit chain, oldest first."""
    return list(AuditEvent.objects.filter(instance=instance).order_by("seq").values_list("action", flat=True))


@contextmanager
def audit_write_refused(action: str) -> Iterator[None]:
    """PostgreSQL refuses to insert audit events of `action` inside the block, as a failing
    disk or constraint would: a service that writes its change and its audit event in one
    transaction must then leave no trace of the change either."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE FUNCTION test_refuse_audit_action() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.action = TG_ARGV[0] THEN
                    RAISE EXCEPTION 'audit event % refused for the test', NEW.action;
                END IF;
                RETURN NEW;
            END $$;
            """
        )
        # A trigger's arguments are literals, never parameters (which PostgreSQL binds itself here).
        assert re.fullmatch(r"[a-z_.]+", action), action
        cursor.execute(
            "CREATE TRIGGER test_refuse_audit_action BEFORE INSERT ON audit_auditevent "
            f"FOR EACH ROW EXECUTE FUNCTION test_refuse_audit_action('{action}')"
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER test_refuse_audit_action ON audit_auditevent")
            cursor.execute("DROP FUNCTION test_refuse_audit_action()")


def triggers_ignored_setting(*uris: str) -> str:
    """The value of `pgtrigger.ignore` that switches the triggers named by `uris` off.

    Set it with `set_config('pgtrigger.ignore', value, true)` in the transaction that needs it:
    pgtrigger's own ignore() prefixes every statement with the setting, which a statement
    PostgreSQL binds and prepares itself (the project's connections) cannot hold.
    """
    import pgtrigger

    ids: set[str] = set()
    for model, trigger in pgtrigger.registered(*uris):
        pgid = trigger.get_pgid(model)
        ids |= {pgid, f"{model._meta.db_table}:{pgid}"}
    return "{" + ",".join(sorted(ids)) + "}"
