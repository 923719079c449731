"""The tables every decision writes (tasks, audit events, instances, the outbox) keep no index
that another index already covers: each index costs every insert, and every update that
changes an indexed column."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.audit.models import AuditEvent
from apps.humantasks.models import HumanTask
from apps.notifications.models import OutboxMessage
from apps.workflows.models import WorkflowInstance

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _plain_indexes() -> list[tuple[str, str, list[str]]]:
    """(table, index, columns) of those tables' btree indexes that are neither partial nor on
    expressions: the ones a longer index can stand in for."""
    hot = [model._meta.db_table for model in (HumanTask, AuditEvent, WorkflowInstance, OutboxMessage)]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT t.relname, i.relname,
                   array_agg(a.attname ORDER BY k.ordinality)
            FROM pg_index ix
            JOIN pg_class i ON i.oid = ix.indexrelid
            JOIN pg_class t ON t.oid = ix.indrelid
            JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema()
            JOIN pg_am am ON am.oid = i.relam AND am.amname = 'btree'
            CROSS JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ordinality)
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
            WHERE ix.indpred IS NULL AND ix.indexprs IS NULL AND t.relname = ANY(%s)
            GROUP BY t.relname, i.relname
            """,
            [hot],
        )
        return cursor.fetchall()


def _unique(index: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indisunique FROM pg_index WHERE indexrelid = %s::regclass", [index])
        return cursor.fetchone()[0]


def test_no_index_is_the_leading_columns_of_another():
    indexes = _plain_indexes()
    covered = [
        f"{table}.{index} {columns} is covered by {other} {longer}"
        for table, index, columns in indexes
        if not _unique(index)
        for other_table, other, longer in indexes
        if other_table == table
        and other != index
        and longer[: len(columns)] == columns
        and (len(longer) > len(columns) or other < index)
    ]
    assert covered == []
