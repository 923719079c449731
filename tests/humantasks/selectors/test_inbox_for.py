"""inbox_for: the tasks a person may see, most urgent first, in a fixed number of queries,
narrowed by each filter, and walked page by page with a cursor.

The expected answers come from an independent oracle: every task, kept if task_access says
the person may see it, sorted in Python by (priority desc, due asc, id asc).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import User
from apps.automation.services import automated_step_run
from apps.core.errors import InvalidDecision
from apps.humantasks.models import OPEN_STATES, HumanTask
from apps.humantasks.selectors import InboxCursor, InboxFilters, inbox_for, task_access
from apps.humantasks.services import task_claim, task_grant
from tests.factories import start_account_activation, start_employee_onboarding, start_purchase_order
from tests.process_steps import decide, open_task, open_tasks

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

# Repeating patterns, so that priorities tie, and some ties also share a due time.
PRIORITIES = (90, 50, 50, 10, 70, 50)
DUE_IN_HOURS = (5, 0, 0, 2, 5, 0, 1)


@pytest.fixture
def viewer(make_user) -> User:
    """A person working three queues (team leads, payroll, risk officers)."""
    return make_user("Team leads", "Payroll", "Risk officers", username="viewer")


@pytest.fixture
def world(people, viewer) -> dict[str, object]:
    """Open, claimed and closed tasks in every kind of queue, one confidential task granted
    to the viewer, and one confidential task not granted to them."""
    orders = [
        start_purchase_order(
            people["requester"],
            amount=100 * n + (60000 if n % 4 == 0 else 0),
            business_key=f"PO-{n}",
            supplier=f"Supplier {n}",
        )
        for n in range(1, 13)
    ]
    decide(open_task(orders[0]), people["lead2"])  # closed: not in anyone's inbox
    task_claim(task=open_task(orders[1]), actor=people["lead2"])
    task_claim(task=open_task(orders[2]), actor=viewer)

    finance_order = start_purchase_order(people["requester"], amount=20000, business_key="PO-FIN")
    decide(open_task(finance_order), people["lead2"])
    granted, not_granted = open_tasks(finance_order)
    HumanTask.objects.filter(pk__in=[granted.pk, not_granted.pk]).update(is_confidential=True)
    task_grant(task=granted, user=viewer, actor=people["manager"])
    hidden_lead_task = open_task(orders[3])
    HumanTask.objects.filter(pk=hidden_lead_task.pk).update(is_confidential=True)

    onboardings = [
        start_employee_onboarding(people["hr"], business_key=f"EMP-{n}", employee_name=f"Employee {n}")
        for n in range(1, 4)
    ]
    for n in range(1, 3):
        activation = start_account_activation(
            people["integration"], business_key=f"ACC-{n}", national_id=f"AB-{n}00X"
        )
        for step in ("credit_check", "employment_verification"):
            automated_step_run(instance_id=activation.pk, step_name=step, expected_state="checks_running")

    base = timezone.now().replace(microsecond=0) + timedelta(days=1)
    for n, task_id in enumerate(HumanTask.objects.order_by("id").values_list("id", flat=True)):
        HumanTask.objects.filter(pk=task_id).update(
            priority=PRIORITIES[n % len(PRIORITIES)],
            due_at=base + timedelta(hours=DUE_IN_HOURS[n % len(DUE_IN_HOURS)]),
        )
    return {
        "orders": orders,
        "onboardings": onboardings,
        "granted": granted,
        "not_granted": not_granted,
        "hidden": hidden_lead_task,
        "base": base,
    }


def visible(user: User, keep=lambda task: True) -> list[int]:
    """The oracle: ids of the open tasks `user` may see and `keep` accepts, in inbox order."""
    tasks = [
        task
        for task in HumanTask.objects.select_related("queue", "instance")
        if task.state in OPEN_STATES and task_access(user=user, task=task).view and keep(task)
    ]
    return [task.pk for task in sorted(tasks, key=lambda t: (-t.priority, t.due_at, t.pk))]


def ids(page) -> list[int]:
    return [task.pk for task in page.tasks]


def test_inbox_shows_every_visible_task_in_urgency_order(viewer, world):
    expected = visible(viewer)

    assert ids(inbox_for(user=viewer, limit=200)) == expected
    assert world["granted"].pk in expected
    assert world["not_granted"].pk not in expected
    assert world["hidden"].pk not in expected
    assert {t.queue.slug for t in inbox_for(user=viewer, limit=200).tasks} == {
        "team-leads",
        "payroll",
        "risk-officers",
        "finance",
    }


def test_query_count_does_not_depend_on_page_size(viewer, world, django_assert_num_queries):
    pages = {}
    for limit in (5, 50):
        fresh = User.objects.get(pk=viewer.pk)  # no permission cache from an earlier call
        # 1. the ids of the queues the viewer works or manages
        # 2. the viewer's own global permissions and those of their roles, one UNION (is this an
        #    auditor?), read once per user object and cached on it
        # 3. one UNION ALL of an index-ordered LIMIT per queue plus the granted tasks
        # 4. the page's tasks with their instance, queue and assignee
        with django_assert_num_queries(4):
            pages[limit] = inbox_for(user=fresh, limit=limit)
        # The same person's next page: the permissions are cached on the user object.
        with django_assert_num_queries(3):
            inbox_for(user=fresh, limit=limit, after=pages[limit].next_cursor)
        for task in pages[limit].tasks:  # nothing left to load lazily
            with django_assert_num_queries(0):
                _ = (task.instance.kind, task.queue.slug, task.assignee and task.assignee.username)

    assert len(pages[5].tasks) == 5
    assert len(pages[50].tasks) == len(visible(viewer)) > 5
    assert pages[50].next_cursor is None


def filter_cases(world, viewer) -> dict[str, tuple[InboxFilters, Callable[[HumanTask], bool]]]:
    """Each filter the inbox offers, with the plain-Python test a task must pass to match it."""
    soon = world["base"] + timedelta(hours=2)
    onboarding = world["onboardings"][1].pk
    return {
        "queue": (InboxFilters(queues=("payroll",)), lambda t: t.queue.slug == "payroll"),
        "granted queue": (InboxFilters(queues=("finance",)), lambda t: t.queue.slug == "finance"),
        "two queues": (
            InboxFilters(queues=("payroll", "risk-officers")),
            lambda t: t.queue.slug in ("payroll", "risk-officers"),
        ),
        "state": (InboxFilters(states=("claimed",)), lambda t: t.state == "claimed"),
        "kind": (
            InboxFilters(kinds=("employee_onboarding",)),
            lambda t: t.process_kind == "employee_onboarding",
        ),
        "min priority": (InboxFilters(min_priority=60), lambda t: t.priority >= 60),
        "due before": (InboxFilters(due_before=soon), lambda t: t.due_at < soon),
        "assignee": (InboxFilters(assignee_id=viewer.pk), lambda t: t.assignee_id == viewer.pk),
        "instance": (InboxFilters(instance_id=onboarding), lambda t: t.instance_id == onboarding),
        "text": (InboxFilters(text="SUPPLIER 1"), lambda t: "supplier 1" in t.title.lower()),
        "combined": (
            InboxFilters(queues=("team-leads",), min_priority=50, states=("open",)),
            lambda t: t.queue.slug == "team-leads" and t.priority >= 50 and t.state == "open",
        ),
    }


def test_each_filter_narrows_to_exactly_the_matching_visible_tasks(viewer, world):
    everything = visible(viewer)

    for name, (filters, keep) in filter_cases(world, viewer).items():
        got = ids(inbox_for(user=viewer, filters=filters, limit=200))
        assert got == visible(viewer, keep), name
        assert 0 < len(got) < len(everything), name


@pytest.mark.parametrize("who", ["auditor", "manager"])
def test_a_title_search_finds_the_same_tasks_for_readers_of_every_queue(people, world, who):
    # An auditor's search is one branch (no grants beside it), a manager's two.
    reader = people[who]
    found = ids(inbox_for(user=reader, filters=InboxFilters(text="SUPPLIER 1"), limit=200))
    assert found == visible(reader, lambda t: "supplier 1" in t.title.lower())
    assert found


@pytest.mark.parametrize("who", ["auditor", "viewer"])
def test_a_title_search_in_no_visible_queue_gives_nothing(people, viewer, world, who):
    reader = viewer if who == "viewer" else people[who]
    filters = InboxFilters(queues=("no-such-queue",), text="SUPPLIER 1")
    assert inbox_for(user=reader, filters=filters, limit=50).tasks == []


def test_filter_for_a_queue_the_viewer_cannot_see_gives_nothing(viewer, world):
    assert inbox_for(user=viewer, filters=InboxFilters(queues=("it", "hr")), limit=200).tasks == []


def walk(viewer: User, *, page_size: int, filters: InboxFilters | None = None) -> list[int]:
    """Every page from the first on, each cursor handed back in its text form as a client would."""
    walked, cursor = [], None
    for _page in range(100):
        page = inbox_for(user=viewer, filters=filters, limit=page_size, after=cursor)
        assert len(page.tasks) <= page_size
        walked.extend(ids(page))
        if page.next_cursor is None:
            return walked
        cursor = InboxCursor.decode(page.next_cursor.encode())
    raise AssertionError("the cursor never reached the end")


def test_cursor_walks_every_visible_task_exactly_once_in_order(viewer, world):
    expected = visible(viewer)
    assert len(expected) > 10

    for page_size in (1, 3, 7, len(expected), len(expected) + 1):
        assert walk(viewer, page_size=page_size) == expected, page_size

    for name, (filters, keep) in filter_cases(world, viewer).items():
        assert walk(viewer, page_size=2, filters=filters) == visible(viewer, keep), name


def _token(raw: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("", id="empty"),
        pytest.param("not a cursor!", id="not-base64"),
        pytest.param(base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(), id="not-utf8"),
        pytest.param(_token({"priority": 1}), id="object"),
        pytest.param(_token([1, 2]), id="too-short"),
        pytest.param(_token(["50", "2026-01-01T00:00:00+00:00", 3]), id="priority-text"),
        pytest.param(_token([50, "yesterday", 3]), id="due-not-a-date"),
        pytest.param(_token([50, 20260101, 3]), id="due-number"),
        pytest.param(_token([50, "2026-01-01T00:00:00+00:00", "3"]), id="id-text"),
        pytest.param(_token([50, "2026-01-01T00:00:00", 3]), id="due-without-zone"),
        pytest.param(_token([50, "9999-12-31T23:59:59-23:00", 3]), id="due-out-of-range"),
    ],
)
def test_garbage_cursor_is_refused_clearly(viewer, token):
    with pytest.raises(InvalidDecision, match="cursor is not valid"):
        inbox_for(user=viewer, after=InboxCursor.decode(token))


def test_deactivated_grantee_no_longer_sees_the_granted_task(viewer, world):
    assert world["granted"] in inbox_for(user=viewer, limit=200).tasks
    viewer.is_active = False
    viewer.save(update_fields=["is_active"])

    assert inbox_for(user=viewer, limit=200).tasks == []
    assert visible(viewer) == []
