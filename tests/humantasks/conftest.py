"""Fixtures of the human-task tests."""

from __future__ import annotations

import pytest
from django.db import connection

HISTORY = 30_000


@pytest.fixture
def history(people, queues):
    """HISTORY past orders, one approved instance and one completed task each, all decided by
    the team lead `people["lead"]` (the worst case for anything found by decider); ANALYZE, so
    the planner knows the tables are big."""
    lead = people["lead"]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH made AS (
                INSERT INTO workflows_workflowinstance
                    (kind, definition_version, business_key, state, data, created_at, updated_at, version)
                SELECT 'purchase_order', 1, 'HIST-' || g, 'approved', '{}'::jsonb, now(), now(), 3
                FROM generate_series(1, %s) AS g RETURNING id
            )
            INSERT INTO humantasks_humantask
                (instance_id, process_kind, queue_id, step, activation, title, state, assignee_id,
                 decided_by_id, priority, due_at, is_confidential, outcome, decision_data, comment,
                 created_at, updated_at, closed_at, version)
            SELECT id, 'purchase_order', %s, 'team_lead_approval', md5(id::text)::uuid, 'Past order',
                   'completed', %s, %s, 50, now(), false, 'approve', '{}'::jsonb, '', now(), now(), now(), 3
            FROM made
            """,
            [HISTORY, queues["team-leads"].pk, lead.pk, lead.pk],
        )
        cursor.execute("ANALYZE humantasks_humantask")
        cursor.execute("ANALYZE workflows_workflowinstance")
    return lead
