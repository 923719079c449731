"""What a decision over the API costs in SQL statements, pinned: the answer is the task as
the decision left it, not a second read of it with its access facts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.humantasks.models import HumanTask

pytestmark = pytest.mark.django_db


def statements(client, path, body=None, **headers):
    with CaptureQueriesContext(connection) as captured:
        answer = client.post(path, body or {}, format="json", headers=headers)
    return answer, [q["sql"] for q in captured.captured_queries]


def test_claim_then_complete_answer_the_task_as_decided(people, api, order):
    lead = api(people["lead"])
    (task,) = HumanTask.objects.filter(instance=order)
    claimed, claim_sql = statements(
        lead, f"/api/v1/tasks/{task.pk}/claim/", **{"If-Match": str(task.version)}
    )
    assert claimed.status_code == 200, claimed.content
    body = claimed.json()
    assert (body["state"], body["assignee"], body["version"]) == ("claimed", "lead", task.version + 1)
    assert claimed["ETag"] == f'"{task.version + 1}"'

    done, complete_sql = statements(
        lead,
        f"/api/v1/tasks/{task.pk}/complete/",
        {"outcome": "approve", "data": {}, "comment": ""},
        **{"If-Match": str(body["version"])},
    )
    assert done.status_code == 200, done.content
    decided = done.json()
    task.refresh_from_db()
    order.refresh_from_db()
    assert decided["state"] == task.state == "completed"
    assert decided["decided_by"] == "lead" and decided["outcome"] == "approve"
    assert decided["instance_state"] == order.state == "approved"
    assert decided["version"] == task.version and done["ETag"] == f'"{task.version}"'
    assert decided["outcomes"] and decided["closed_at"]
    # Claim: the key (and its last use), the transaction (a savepoint and its release in a
    # test), the instance and the task locked with everything the answer shows, the task's
    # update, its audit event and outbox row; no read afterwards.
    assert len(claim_sql) == 9, claim_sql
    # Complete: the key (its last use is not written again so soon), the savepoint, both
    # locks, the task's update, the instance's transition, then the two audit events in one
    # INSERT and the two outbox rows in another (apps.core.transactions.atomic_batched).
    assert len(complete_sql) == 9, complete_sql
    assert not any(sql.startswith("(SELECT") for sql in claim_sql + complete_sql)  # no grants re-read
