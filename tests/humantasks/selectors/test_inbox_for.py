"""inbox_for: the tasks a person may see, most urgent first, in a fixed number of queries,
narrowed by each filter, and walked page by page with a cursor.

The expected answers come from an independent oracle: every task, kept if task_access says
the person may see it, sorted in Python by (priority desc, due asc, id asc).
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import User
from apps.automation.services import automated_step_run
from apps.humantasks.errors import InvalidDecision
from apps.humantasks.models import OPEN_STATES, HumanTask
from apps.humantasks.selectors import InboxCursor, InboxFilters, inbox_for, task_access
from apps.humantasks.services import task_claim, task_grant
from apps.workflows.services import instance_start
from tests.conftest import account_activation_data, employee_onboarding_data, purchase_order_data
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
        instance_start(
            kind="purchase_order",
            business_key=f"PO-{n}",
            data=purchase_order_data(100 * n + (60000 if n % 4 == 0 else 0), supplier=f"Supplier {n}"),
            actor=people["requester"],
        )
        for n in range(1, 13)
    ]
    decide(open_task(orders[0]), people["lead2"])  # closed: not in anyone's inbox
    task_claim(task=open_task(orders[1]), actor=people["lead2"])
    task_claim(task=open_task(orders[2]), actor=viewer)

    finance_order = instance_start(
        kind="purchase_order",
        business_key="PO-FIN",
        data=purchase_order_data(20000),
        actor=people["requester"],
    )
    decide(open_task(finance_order), people["lead2"])
    granted, not_granted = open_tasks(finance_order)
    HumanTask.objects.filter(pk__in=[granted.pk, not_granted.pk]).update(is_confidential=True)
    task_grant(task=granted, user=viewer, actor=people["manager"])
    hidden_lead_task = open_task(orders[3])
    HumanTask.objects.filter(pk=hidden_lead_task.pk).update(is_confidential=True)

    onboardings = [
        instance_start(
            kind="employee_onboarding",
            business_key=f"EMP-{n}",
            data=employee_onboarding_data(employee_name=f"Employee {n}"),
            actor=people["hr"],
        )
        for n in range(1, 4)
    ]
    for n in range(1, 3):
        activation = instance_start(
            kind="account_activation",
            business_key=f"ACC-{n}",
            data=account_activation_data(national_id=f"AB-{n}00X"),
            actor=people["integration"],
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
        # 2. the viewer's own global permissions and 3. those of their roles (is this an auditor?),
        #    read once per user object and cached on it
        # 4. one UNION ALL of an index-ordered LIMIT per queue plus the granted tasks
        # 5. the page's tasks with their instance, queue and assignee
        with django_assert_num_queries(5):
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


@pytest.mark.parametrize(
    ("make_filters", "keep"),
    [
        pytest.param(
            lambda w, v: InboxFilters(queues=("payroll",)),
            lambda t, w, v: t.queue.slug == "payroll",
            id="queue",
        ),
        pytest.param(
            lambda w, v: InboxFilters(queues=("finance",)),
            lambda t, w, v: t.queue.slug == "finance",
            id="granted-queue",
        ),
        pytest.param(
            lambda w, v: InboxFilters(queues=("payroll", "risk-officers")),
            lambda t, w, v: t.queue.slug in ("payroll", "risk-officers"),
            id="two-queues",
        ),
        pytest.param(
            lambda w, v: InboxFilters(states=("claimed",)), lambda t, w, v: t.state == "claimed", id="state"
        ),
        pytest.param(
            lambda w, v: InboxFilters(kinds=("employee_onboarding",)),
            lambda t, w, v: t.process_kind == "employee_onboarding",
            id="kind",
        ),
        pytest.param(
            lambda w, v: InboxFilters(min_priority=60), lambda t, w, v: t.priority >= 60, id="min-priority"
        ),
        pytest.param(
            lambda w, v: InboxFilters(due_before=w["base"] + timedelta(hours=2)),
            lambda t, w, v: t.due_at < w["base"] + timedelta(hours=2),
            id="due-before",
        ),
        pytest.param(
            lambda w, v: InboxFilters(assignee_id=v.pk), lambda t, w, v: t.assignee_id == v.pk, id="assignee"
        ),
        pytest.param(
            lambda w, v: InboxFilters(instance_id=w["onboardings"][1].pk),
            lambda t, w, v: t.instance_id == w["onboardings"][1].pk,
            id="instance",
        ),
        pytest.param(
            lambda w, v: InboxFilters(text="SUPPLIER 1"),
            lambda t, w, v: "supplier 1" in t.title.lower(),
            id="text",
        ),
        pytest.param(
            lambda w, v: InboxFilters(queues=("team-leads",), min_priority=50, states=("open",)),
            lambda t, w, v: t.queue.slug == "team-leads" and t.priority >= 50 and t.state == "open",
            id="combined",
        ),
    ],
)
def test_each_filter_narrows_to_exactly_the_matching_visible_tasks(viewer, world, make_filters, keep):
    everything = visible(viewer)
    expected = visible(viewer, lambda task: keep(task, world, viewer))

    got = ids(inbox_for(user=viewer, filters=make_filters(world, viewer), limit=200))

    assert got == expected
    assert 0 < len(got) < len(everything)


def test_filter_for_a_queue_the_viewer_cannot_see_gives_nothing(viewer, world):
    assert inbox_for(user=viewer, filters=InboxFilters(queues=("it", "hr")), limit=200).tasks == []


@pytest.mark.parametrize("page_size", [1, 3, 7])
def test_cursor_walks_every_visible_task_exactly_once_in_order(viewer, world, page_size):
    walked, cursor, pages = [], None, 0
    while True:
        page = inbox_for(user=viewer, limit=page_size, after=cursor)
        pages += 1
        assert len(page.tasks) <= page_size
        walked.extend(ids(page))
        if page.next_cursor is None:
            break
        # Through its text form, as a client would hand it back.
        cursor = InboxCursor.decode(page.next_cursor.encode())
        assert pages < 100

    assert walked == visible(viewer)
    assert len(walked) == len(set(walked))


def test_cursor_walk_with_a_filter_stays_filtered(viewer, world):
    filters = InboxFilters(queues=("team-leads",))
    walked, cursor = [], None
    while True:
        page = inbox_for(user=viewer, filters=filters, limit=2, after=cursor)
        walked.extend(ids(page))
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert walked == visible(viewer, lambda task: task.queue.slug == "team-leads")


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
