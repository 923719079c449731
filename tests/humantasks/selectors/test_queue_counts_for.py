import pytest

from apps.humantasks.models import HumanTask
from apps.humantasks.selectors import queue_counts_for
from tests.factories import start_purchase_order
from tests.process_steps import decide, open_task

pytestmark = pytest.mark.django_db


def _counts(user):
    return {c.queue.slug: (c.open, c.claimed, c.overdue) for c in queue_counts_for(user=user)}


def test_counts_open_claimed_and_overdue_but_not_confidential_tasks(people):
    for number in range(3):
        start_purchase_order(people["requester"], business_key=f"PO-{number}")
    sent_back = open_task(start_purchase_order(people["requester"], business_key="PO-C"))
    decide(
        sent_back, people["lead"], "request_changes", comment="Which drills?"
    )  # opens a confidential revision
    HumanTask.objects.filter(step="team_lead_approval", instance__business_key="PO-0").update(
        due_at="2000-01-01T00:00:00Z"
    )

    assert _counts(people["lead"]) == {"team-leads": (3, 0, 1)}
    # The revision is the requester's own, confidential task: not counted in the Requesters queue.
    assert _counts(people["requester2"])["requesters"] == (0, 0, 0)
    assert _counts(people["manager"])["team-leads"] == (3, 0, 1)
