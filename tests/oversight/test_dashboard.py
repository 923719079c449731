"""The dashboard's figures: per queue and step, for managers (their queues) and auditors (all);
the same numbers from PostgreSQL's percentile_cont and from the Python fallback; queries pinned."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from django.test import Client
from django.utils import timezone

from apps.humantasks.models import HumanTask
from apps.humantasks.services import task_reassign
from apps.oversight import selectors
from apps.oversight.selectors import Overseer, _percentile, dashboard_for, dashboard_queues
from apps.workflows.services import instance_start
from tests.factories import purchase_order_data
from tests.oversight.conftest import rejected_order
from tests.process_steps import decide, open_task

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def decided_lead_tasks(
    people, waits_in_hours: list[int], work_hours: int = 1, late: int = 0
) -> list[HumanTask]:
    """Team-lead tasks decided yesterday, each opened `wait` hours before its claim and
    decided `work_hours` after it; the first `late` of them after they were due."""
    base = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
    tasks = []
    for n, wait in enumerate(waits_in_hours):
        order = instance_start(
            kind="purchase_order",
            business_key=f"PO-FIG-{n}",
            data=purchase_order_data(100),
            actor=people["requester"],
        )
        task = decide(open_task(order, "team_lead_approval"), people["lead"])
        closed = base + timedelta(minutes=n)
        claimed = closed - work_hours * HOUR
        created = claimed - wait * HOUR
        due = closed - HOUR if n < late else closed + HOUR
        HumanTask.objects.filter(pk=task.pk).update(
            created_at=created, claimed_at=claimed, closed_at=closed, due_at=due
        )
        tasks.append(task)
    return tasks


def the_range() -> tuple[datetime, datetime]:
    now = timezone.now()
    return now - timedelta(days=7), now + timedelta(days=1)


def test_percentiles_interpolate_as_percentile_cont_does():
    values = [timedelta(hours=h) for h in (1, 2, 3, 4, 10)]
    assert _percentile(values, 0.5) == timedelta(hours=3)
    assert _percentile(values, 0.9) == timedelta(hours=7.6)
    assert _percentile([], 0.5) is None


def test_figures_per_step_wait_work_cycle_breaches_and_reassignments(people, queues):
    decided_lead_tasks(people, waits_in_hours=[1, 2, 3, 4, 10], late=2)
    reassigned = instance_start(
        kind="purchase_order",
        business_key="PO-MOVED",
        data=purchase_order_data(100),
        actor=people["requester"],
    )
    task = open_task(reassigned, "team_lead_approval")
    task_reassign(task=task, actor=people["manager"], to_user=people["lead2"], reason="Holiday")
    decide(task, people["lead2"])
    HumanTask.objects.filter(pk=task.pk).update(
        created_at=timezone.now() - 30 * HOUR, claimed_at=timezone.now() - 2 * HOUR
    )

    since, until = the_range()
    board = dashboard_for(
        queues=dashboard_queues(overseer=Overseer(is_auditor=True)), since=since, until=until
    )

    [lead] = [s for s in board.steps if s.step == "team_lead_approval"]
    assert lead.queue_name == "Team leads" and lead.completed == 6
    assert lead.work_p50 == pytest.approx(timedelta(hours=1), abs=timedelta(minutes=2))
    assert lead.reassignments == 1
    assert lead.breaches == 2
    assert board.bottleneck == lead
    # Six decided today or yesterday, nothing on other days.
    assert sum(day.completed for day in board.days) == 6


@pytest.mark.postgres
def test_the_python_fallback_gives_the_database_s_figures(people, monkeypatch):
    decided_lead_tasks(people, waits_in_hours=[1, 2, 3, 4, 10], late=1)
    since, until = the_range()
    ids = list(HumanTask.objects.values_list("queue_id", flat=True).distinct())

    in_database = selectors.step_figures_query(queue_ids=ids, since=since, until=until)
    monkeypatch.setattr(selectors, "connection", SimpleNamespace(vendor="sqlite"))
    in_python = selectors.step_figures_query(queue_ids=ids, since=since, until=until)

    assert in_python == in_database
    [row] = in_database
    assert row["wait_p50"] == timedelta(hours=3) and row["wait_p90"] == timedelta(hours=7.6)


def test_a_manager_sees_only_their_queues(people, finance_manager):
    rejected_order(people)  # a team-lead decision and a finance decision
    page = signed_in(finance_manager).get("/oversight/dashboard/").content.decode()

    assert '<th scope="row">Finance</th>' in page
    assert "Team leads" not in page and "Team lead approval" not in page
    assert "Your queues" in page
    # Asking for another queue is a form error, not a peek.
    team_leads = HumanTask.objects.get(step="team_lead_approval").queue_id
    assert signed_in(finance_manager).get("/oversight/dashboard/", {"queue": team_leads}).status_code == 400


def test_auditors_see_every_queue(people):
    rejected_order(people)
    page = signed_in(people["auditor"]).get("/oversight/dashboard/").content.decode()
    assert "Finance · Finance approval" in page and "Team leads · Team lead approval" in page
    assert "Every queue" in page
    # Charts are drawn on the server: no script of the page's own (the site's files only).
    assert 'role="img"' in page and "<script>" not in page


def test_the_dashboard_costs_the_same_queries_for_few_tasks_or_many(people, django_assert_num_queries):
    rejected_order(people, key="PO-Q-1")
    client = signed_in(people["auditor"])
    # 1 the session, 1 the user, 1 the user's and their groups' model permissions (one UNION:
    # is this an auditor?), 1 the queues, 1 the per-step figures, 1 the reassignments, 1 the daily trend.
    # (+1: the bell, its latest five with the unread count, on every page.)
    with django_assert_num_queries(8):
        assert client.get("/oversight/dashboard/").status_code == 200
    for n in range(2, 6):
        rejected_order(people, key=f"PO-Q-{n}")
    with django_assert_num_queries(8):
        assert client.get("/oversight/dashboard/").status_code == 200


def test_a_manager_s_dashboard_costs_one_query_more_to_find_their_queues(
    people, finance_manager, django_assert_num_queries
):
    rejected_order(people)
    client = signed_in(finance_manager)
    # As an auditor's, plus 1 the queues they manage (after the permission check says no).
    # (+1: the bell.)
    with django_assert_num_queries(9):
        assert client.get("/oversight/dashboard/").status_code == 200
