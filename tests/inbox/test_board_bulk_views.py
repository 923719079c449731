"""The inbox's new pages and fragments: bulk actions, the queue board, saved views, the row
and pane fragments, comments and attachments. Each role against objects inside and outside
its reach, reads and writes; bad input writes nothing; hot paths' query counts pinned."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.humantasks.models import HumanTask, InstanceAttachment, InstanceComment
from apps.humantasks.services import task_claim, task_complete
from apps.inbox.models import SavedView, SavedViewDefault
from apps.notifications.models import OutboxMessage
from apps.workflows.models import WorkflowInstance
from apps.workflows.services import instance_start
from tests.factories import employee_onboarding_data, purchase_order_data

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
BULK = reverse("inbox:bulk")
BOARD = reverse("inbox:board")
# The bulk endpoint: paid once per request, and per claimed task (see the test that pins them).
# Once (6): session, user, the managed queues (the form's manager actions), 1 the model
# permissions (tasks_visible_to; the person's and their groups' in one UNION), the ticked
# tasks with their titles, the lock order's instance ids. Per claim (7), what task_claim
# alone costs: its savepoint and release, the instance's lock (found by the task's id), the
# task's lock (with the claimant's grants, the policy's facts and the audit chain's head in
# the same statement), the update, the audit event and the claim's event in the outbox. The
# page that answers shows the bell too (its latest five with the unread count as a
# subquery: one more, once).
ONCE, PER_CLAIM = 7, 7


def start_order(people, key: str, amount: float = 1200, actor=None) -> WorkflowInstance:
    return instance_start(
        kind="purchase_order",
        business_key=key,
        data=purchase_order_data(amount),
        actor=actor or people["requester"],
    )


def open_task(instance: WorkflowInstance) -> HumanTask:
    return HumanTask.objects.filter(instance=instance, state__in=("open", "claimed")).order_by("pk").first()


def as_(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def written() -> tuple:
    """Everything a refused request must leave as it was."""
    return (
        list(
            HumanTask.objects.order_by("pk").values_list(
                "pk", "state", "assignee", "priority", "due_at", "version"
            )
        ),
        AuditEvent.objects.count(),
        SavedView.objects.count(),
        InstanceComment.objects.count(),
        InstanceAttachment.objects.count(),
        OutboxMessage.objects.count(),
    )


def results(response) -> dict[int, tuple[bool, str]]:
    return {row.task_id: (row.done, row.message) for row in response.context["rows"]}


def finance_order(people, key: str, actor=None) -> WorkflowInstance:
    order = start_order(people, key, amount=8000, actor=actor)
    task_complete(task=open_task(order), actor=people["lead"], outcome="approve")
    return order


# --- Bulk ------------------------------------------------------------------------------------------


def test_bulk_claim_answers_each_task_and_hides_those_out_of_reach(people):
    mine = [open_task(start_order(people, f"PO-{n}")) for n in range(2)]
    finance = open_task(finance_order(people, "PO-FIN"))
    response = as_(people["lead"]).post(
        BULK, {"action": "claim", "task": [mine[0].pk, finance.pk, mine[1].pk]}
    )
    assert response.status_code == 200
    assert results(response) == {
        mine[0].pk: (True, "Claimed by you."),
        finance.pk: (False, "No such task."),
        mine[1].pk: (True, "Claimed by you."),
    }
    assert finance.title not in response.content.decode()
    assert [t.state for t in HumanTask.objects.filter(pk__in=[m.pk for m in mine])] == ["claimed"] * 2
    finance.refresh_from_db()
    assert finance.state == "open"


def test_bulk_approve_asks_first_then_explains_each_refusal(people, make_user):
    finance = people["finance"]
    finance.groups.add(*people["requester"].groups.all())
    others = finance_order(people, "PO-A")
    own = finance_order(people, "PO-OWN", actor=finance)
    slots = [open_task(others), open_task(own)]
    client = as_(finance)
    before = written()
    confirm = client.post(BULK, {"action": "approve", "task": [t.pk for t in slots]})
    assert confirm.status_code == 200 and "Approve 2 tasks?" in confirm.content.decode()
    assert written() == before

    done = client.post(BULK, {"action": "approve", "confirm": "on", "task": [t.pk for t in slots]})
    assert results(done) == {
        slots[0].pk: (True, "Approved. The process is now: Finance review."),
        slots[1].pk: (False, "Four-eyes rule: you requested this, so someone else must decide it."),
    }
    # The other slot of the order finance just approved: N-of-M needs someone else.
    sibling = HumanTask.objects.filter(instance=others, state="open").get()
    again = client.post(BULK, {"action": "approve", "confirm": "on", "task": [sibling.pk]})
    assert "needs different people" in results(again)[sibling.pk][1]


def test_bulk_approve_leaves_steps_that_need_data_to_their_page(people):
    onboarding = instance_start(
        kind="employee_onboarding", business_key="ONB-1", data=employee_onboarding_data(), actor=people["hr"]
    )
    it_task = HumanTask.objects.get(instance=onboarding, step="it_provisioning")
    response = as_(people["it"]).post(BULK, {"action": "approve", "confirm": "on", "task": [it_task.pk]})
    assert results(response)[it_task.pk] == (
        False,
        "This step needs details with its decision: open the task to decide it.",
    )
    it_task.refresh_from_db()
    assert it_task.state == "open"


@pytest.mark.parametrize(
    "fields",
    [
        {"action": "claim"},  # nothing ticked
        {"action": "claim", "task": ["abc"]},
        {"action": "claim", "task": ["0"]},
        {"action": "fly", "task": ["1"]},
        {"task": ["1"]},
        {"action": "reassign", "task": ["1"], "to_user": "lead2"},  # a lead is no manager
        {"action": "priority", "task": ["1"], "priority": "10", "reason": "x"},
    ],
)
def test_bad_bulk_input_is_a_form_error_and_writes_nothing(people, fields):
    task = open_task(start_order(people, "PO-1"))
    fields = {k: [str(task.pk)] if v == ["1"] else v for k, v in fields.items()}
    client = as_(people["lead"])
    before = written()
    response = client.post(BULK, fields)
    assert response.status_code == 400
    assert "Nothing was done." in response.content.decode()
    assert written() == before


@pytest.mark.parametrize(
    "fields",
    [
        {"action": "reassign", "to_user": "lead2"},  # no reason
        {"action": "reassign", "to_user": "nobody-here", "reason": "r"},
        {"action": "reassign_queue", "to_queue": "no-such-queue", "reason": "r"},
        {"action": "priority", "priority": "101", "reason": "r"},
        {"action": "priority", "priority": "ten", "reason": "r"},
        {"action": "due", "due_at": "tomorrow", "reason": "r"},
        {"action": "due", "reason": "r"},
        {"action": "cancel", "reason": "   "},
    ],
)
def test_bad_manager_input_is_a_form_error_and_writes_nothing(people, fields):
    task = open_task(start_order(people, "PO-1"))
    client = as_(people["manager"])
    before = written()
    response = client.post(BULK, {**fields, "task": [task.pk]})
    assert response.status_code == 400
    assert written() == before


def test_the_bulk_endpoint_costs_a_fixed_number_of_queries_per_task(people, django_assert_num_queries):
    tasks = [open_task(start_order(people, f"PO-{n}")) for n in range(6)]
    client = as_(people["lead"])
    client.get("/")  # the session is warm

    def claim(batch) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.post(BULK, {"action": "claim", "task": [t.pk for t in batch]}).status_code == 200
        return len(captured)

    # The request's own queries (session, user, managed queues, the tasks' titles, the lock
    # order's instance ids) are paid once; each claim then costs what a claim alone costs
    # (lock the instance and the task, access, policy, save, audit chain), never a query
    # per other task.
    one, three = claim(tasks[:1]), claim(tasks[1:4])
    per_task = (three - one) // 2
    assert (one, per_task) == (ONCE + PER_CLAIM, PER_CLAIM)
    with django_assert_num_queries(ONCE + 2 * PER_CLAIM):
        client.post(BULK, {"action": "claim", "task": [tasks[4].pk, tasks[5].pk]})


# --- Row and pane fragments --------------------------------------------------------------------------


def test_the_row_fragment_and_the_pane_follow_the_task_page_rules(people):
    task = open_task(start_order(people, "PO-1"))
    finance_task = open_task(finance_order(people, "PO-F"))
    lead = as_(people["lead"])
    row = lead.get(reverse("inbox:task_row", args=[task.pk]))
    assert row.status_code == 200
    assert f'data-task-id="{task.pk}"' in row.content.decode() and "<html" not in row.content.decode()
    assert lead.get(reverse("inbox:task_row", args=[finance_task.pk])).status_code == 404
    assert as_(people["outsider"]).get(reverse("inbox:task_row", args=[task.pk])).status_code == 404
    pane = lead.get(reverse("inbox:task", args=[task.pk]), headers={"HX-Request": "true"})
    assert pane.status_code == 200
    assert "<html" not in pane.content.decode() and task.title in pane.content.decode()
    assert "<html" in lead.get(reverse("inbox:task", args=[task.pk])).content.decode()
    assert (
        lead.get(reverse("inbox:task", args=[finance_task.pk]), headers={"HX-Request": "true"}).status_code
        == 404
    )


def test_rows_say_why_the_reader_may_not_decide(people):
    requester_lead = people["requester"]
    requester_lead.groups.add(*people["lead"].groups.all())
    own = open_task(start_order(people, "PO-OWN"))
    other = open_task(start_order(people, "PO-OTHER", actor=people["requester2"]))
    task_claim(task=other, actor=people["lead"])
    rows = {row.task.pk: row.refusal for row in as_(requester_lead).get("/").context["rows"]}
    assert rows[own.pk] == "Four-eyes rule: you requested this, so someone else must decide it."
    assert rows[other.pk] == "Claimed by lead."


def test_the_inbox_sorts_by_due_and_age_and_refuses_a_cursor_of_another_sort(people):
    tasks = [open_task(start_order(people, f"PO-{n}")) for n in range(3)]
    HumanTask.objects.filter(pk=tasks[0].pk).update(due_at=timezone.now() + timedelta(days=9))
    HumanTask.objects.filter(pk=tasks[2].pk).update(due_at=timezone.now() + timedelta(hours=1), priority=10)
    lead = as_(people["lead"])
    listed = lambda **q: [t.pk for t in lead.get("/", q).context["page"].tasks]  # noqa: E731
    assert listed(sort="due") == [tasks[2].pk, tasks[1].pk, tasks[0].pk]
    assert listed(sort="age") == [t.pk for t in tasks]
    assert listed(sort="priority")[-1] == tasks[2].pk
    assert lead.get("/", {"sort": "sideways"}).status_code == 400
    priority_cursor = lead.get("/", {"sort": "priority"}).context["page"]
    assert priority_cursor.next_cursor is None  # one page; a cursor of another sort is refused:
    from apps.humantasks.selectors import InboxCursor

    token = InboxCursor(priority=50, due_at=timezone.now(), id=1).encode()
    assert lead.get("/", {"sort": "due", "after": token}).status_code == 400


def test_relative_due_times_read_in_peoples_words(people):
    task = open_task(start_order(people, "PO-1"))
    lead = as_(people["lead"])
    assert "in 2 days" in lead.get("/").content.decode()
    HumanTask.objects.filter(pk=task.pk).update(due_at=timezone.now() - timedelta(hours=3))
    assert "3 h overdue" in lead.get("/").content.decode()


# --- The queue board -------------------------------------------------------------------------------------


def test_the_board_shows_counts_holders_and_the_oldest_task(people):
    tasks = [open_task(start_order(people, f"PO-{n}")) for n in range(3)]
    task_claim(task=tasks[0], actor=people["lead"])
    task_claim(task=tasks[1], actor=people["lead2"])
    HumanTask.objects.filter(pk=tasks[1].pk).update(due_at=timezone.now() - timedelta(hours=1))
    response = as_(people["manager"]).get(BOARD)
    assert response.status_code == 200
    leads = next(entry for entry in response.context["board"] if entry.queue.slug == "team-leads")
    assert (leads.open, leads.claimed, leads.overdue) == (1, 2, 1)
    assert {(h.username, h.claimed, h.overdue) for h in leads.holders} == {("lead", 1, 0), ("lead2", 1, 1)}
    overdue = as_(people["manager"]).get(BOARD, {"overdue": "1"})
    assert [row.task.pk for row in overdue.context["rows"]] == [tasks[1].pk]
    held = as_(people["manager"]).get(BOARD, {"queue": "team-leads", "holder": "lead"})
    assert [row.task.pk for row in held.context["rows"]] == [tasks[0].pk]


def test_people_who_manage_nothing_see_an_empty_board_and_unknown_queues_are_not_found(people):
    start_order(people, "PO-1")
    lead_board = as_(people["lead"]).get(BOARD)
    assert lead_board.status_code == 200 and lead_board.context["board"] == []
    assert "You manage no queues" in lead_board.content.decode()
    assert as_(people["manager"]).get(BOARD, {"queue": "no-such"}).status_code == 404
    assert as_(people["lead"]).get(BOARD, {"queue": "team-leads"}).status_code == 404
    assert Client().get(BOARD).status_code == 302


def test_the_board_costs_the_same_queries_for_any_number_of_queues_tasks_and_holders(
    people, django_assert_num_queries
):
    client = as_(people["manager"])
    start_order(people, "PO-0")
    client.get(BOARD)
    # 1 session, 1 user; the board: 1 the managed queues with their counts, 1 who holds
    # what; the task list (inbox_for): 1 the queue ids, 1 the model permissions (the person's
    # and their groups', one UNION), 1 the merged page, 1 the page's tasks; 2 the rows'
    # refusals. 10, however many tasks and people.
    # (+1: the bell, its latest five with the unread count, on every page.)
    with django_assert_num_queries(11):
        client.get(BOARD)
    for n in range(1, 6):
        task = open_task(start_order(people, f"PO-{n}"))
        task_claim(task=task, actor=people["lead" if n % 2 else "lead2"])
    with django_assert_num_queries(11):
        client.get(BOARD)


def test_managers_change_priority_and_due_time_with_a_reason(people):
    tasks = [open_task(start_order(people, f"PO-{n}")) for n in range(2)]
    manager = as_(people["manager"])
    response = manager.post(
        BULK, {"action": "priority", "priority": "90", "reason": "Quarter end", "task": [t.pk for t in tasks]}
    )
    assert all(done for done, _ in results(response).values())
    assert set(HumanTask.objects.filter(pk__in=[t.pk for t in tasks]).values_list("priority", flat=True)) == {
        90
    }
    event = AuditEvent.objects.filter(task=tasks[0], action="task.priority_changed").get()
    assert event.data == {"reason": "Quarter end", "from_priority": 50, "to_priority": 90}
    due = manager.post(
        BULK,
        {"action": "due", "due_at": "2030-01-02T10:00", "reason": "Supplier late", "task": [tasks[0].pk]},
    )
    assert results(due)[tasks[0].pk][0] is True
    tasks[0].refresh_from_db()
    assert tasks[0].due_at.year == 2030 and tasks[0].version == 3


def test_a_confidential_task_is_no_managers_to_touch(people):
    order = start_order(people, "PO-1")
    task_complete(task=open_task(order), actor=people["lead"], outcome="request_changes", comment="Split it")
    revise = open_task(order)
    assert revise.is_confidential
    client = as_(people["manager"])
    before = written()
    response = client.post(BULK, {"action": "priority", "priority": "99", "reason": "r", "task": [revise.pk]})
    assert results(response) == {revise.pk: (False, "No such task.")}
    assert written() == before


# --- Saved views ------------------------------------------------------------------------------------


def test_a_view_shared_with_a_queue_reaches_its_team_only(people):
    lead = as_(people["lead"])
    response = lead.post(
        reverse("inbox:saved_views"), {"name": "Cheap", "filter_q": "PO", "filter_sort": "due"}
    )
    view = SavedView.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/?saved={view.pk}"
    assert as_(people["lead2"]).get("/").context["saved_views"] == []
    lead.post(
        reverse("inbox:saved_view_edit", args=[view.pk]),
        {f"view-{view.pk}-name": "Cheap", f"view-{view.pk}-shared_with": "team-leads"},
    )
    view.refresh_from_db()
    assert view.shared_with.slug == "team-leads"
    teammate = as_(people["lead2"])
    assert [v.pk for v in teammate.get("/").context["saved_views"]] == [view.pk]
    assert teammate.get("/", {"saved": view.pk}).context["form"].cleaned_data["sort"] == "due"
    assert as_(people["finance"]).get("/").context["saved_views"] == []

    # A teammate uses it but may not change or delete it; outsiders do not find it.
    outsider = as_(people["finance"])
    before = written()
    assert teammate.post(reverse("inbox:saved_view_delete", args=[view.pk])).status_code == 403
    assert (
        teammate.post(
            reverse("inbox:saved_view_edit", args=[view.pk]), {f"view-{view.pk}-name": "Mine now"}
        ).status_code
        == 403
    )
    assert outsider.post(reverse("inbox:saved_view_delete", args=[view.pk])).status_code == 404
    assert outsider.post(reverse("inbox:saved_view_default", args=[view.pk])).status_code == 404
    assert written() == before

    # The teammate makes it their default: the bare inbox opens with it.
    teammate.post(reverse("inbox:saved_view_default", args=[view.pk]))
    assert teammate.get("/").context["current_view"].pk == view.pk
    assert SavedViewDefault.objects.get().user == people["lead2"]


@pytest.mark.parametrize(
    "fields",
    [
        {"name": ""},
        {"name": "x" * 81},
        {"name": "Ok", "shared_with": "finance"},
        {"name": "Ok", "shared_with": "nope"},
    ],
)
def test_bad_saved_view_input_writes_nothing(people, fields):
    client = as_(people["lead"])
    before = written()
    response = client.post(reverse("inbox:saved_views"), fields)
    assert response.status_code == 400
    assert written() == before


def test_a_second_view_with_the_same_name_is_refused(people):
    lead = as_(people["lead"])
    lead.post(reverse("inbox:saved_views"), {"name": "Cheap"})
    before = written()
    again = lead.post(reverse("inbox:saved_views"), {"name": "Cheap"})
    assert again.status_code == 400 and "already have a view" in again.content.decode()
    assert written() == before


# --- Comments and attachments -------------------------------------------------------------------------


def test_a_comment_mentions_only_people_who_may_see_the_process(people):
    order = start_order(people, "PO-1")
    task = open_task(order)
    url = reverse("inbox:instance_comment", args=[order.pk])
    response = as_(people["lead"]).post(url, {"body": "@lead2 please check, cc @finance", "task": task.pk})
    assert response.status_code == 302
    comment = InstanceComment.objects.get()
    assert list(comment.mentioned.all()) == [people["lead2"]]
    message = OutboxMessage.objects.get(topic="comment.mentioned")
    assert message.payload["notify_groups"] == [f"user-{people['lead2'].pk}"]
    event = AuditEvent.objects.get(action="comment.added")
    assert event.data["mentioned"] == ["lead2"]
    page = as_(people["lead2"]).get(reverse("inbox:task", args=[task.pk])).content.decode()
    assert "@lead2 please check" in page and "Comment added" in page


@pytest.mark.parametrize("who,status", [("finance", 404), ("outsider", 404), ("auditor", 403)])
def test_people_who_may_not_see_the_process_cannot_comment_or_attach(people, who, status):
    order = start_order(people, "PO-1")
    client = as_(people[who])
    before = written()
    assert (
        client.post(reverse("inbox:instance_comment", args=[order.pk]), {"body": "hi"}).status_code == status
    )
    upload = SimpleUploadedFile("a.pdf", b"%PDF-1.4", content_type="application/pdf")
    assert (
        client.post(reverse("inbox:instance_attach", args=[order.pk]), {"file": upload}).status_code == status
    )
    assert written() == before


def test_auditors_read_the_notes_but_are_offered_no_forms(people):
    order = start_order(people, "PO-1")
    task = open_task(order)
    as_(people["lead"]).post(reverse("inbox:instance_comment", args=[order.pk]), {"body": "Quote attached"})
    auditor_page = as_(people["auditor"]).get(reverse("inbox:task", args=[task.pk])).content.decode()
    assert "Quote attached" in auditor_page
    assert reverse("inbox:instance_comment", args=[order.pk]) not in auditor_page
    assert reverse("inbox:instance_attach", args=[order.pk]) not in auditor_page
    assert "Auditors read the notes" in auditor_page
    lead_page = as_(people["lead2"]).get(reverse("inbox:task", args=[task.pk])).content.decode()
    assert reverse("inbox:instance_comment", args=[order.pk]) in lead_page


@pytest.mark.parametrize("body", ["", "   ", "x" * 5001, "bad \x00 byte"])
def test_bad_comments_write_nothing(people, body):
    order = start_order(people, "PO-1")
    client = as_(people["lead"])
    before = written()
    response = client.post(reverse("inbox:instance_comment", args=[order.pk]), {"body": body})
    assert response.status_code == 400
    assert written() == before


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }
    return tmp_path


def refuse_everything(file) -> str:
    return "EICAR test signature found"


def test_attachments_are_kept_in_storage_and_served_only_to_those_who_may_see_them(people, media):
    order = start_order(people, "PO-1")
    upload = SimpleUploadedFile("../../quote.pdf", b"%PDF-1.4 quote", content_type="application/pdf")
    response = as_(people["lead"]).post(reverse("inbox:instance_attach", args=[order.pk]), {"file": upload})
    assert response.status_code == 302
    attachment = InstanceAttachment.objects.get()
    assert attachment.name == "quote.pdf" and ".." not in attachment.file.name
    url = reverse("inbox:attachment", args=[attachment.pk])
    download = as_(people["requester"]).get(url)
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"%PDF-1.4 quote"
    assert download["Content-Disposition"].startswith("attachment;")
    assert download["X-Content-Type-Options"] == "nosniff"
    assert as_(people["finance"]).get(url).status_code == 404
    assert as_(people["outsider"]).get(url).status_code == 404
    assert AuditEvent.objects.filter(action="attachment.added").count() == 1


@pytest.mark.parametrize(
    "upload,overrides",
    [
        (
            lambda: SimpleUploadedFile("a.pdf", b"x" * 11, content_type="application/pdf"),
            {"ATTACHMENT_MAX_BYTES": 10},
        ),
        (lambda: SimpleUploadedFile("a.html", b"<script>", content_type="text/html"), {}),
        (lambda: SimpleUploadedFile("a.pdf", b"", content_type="application/pdf"), {}),
        (
            lambda: SimpleUploadedFile("a.pdf", b"%PDF", content_type="application/pdf"),
            {"ATTACHMENT_SCANNER": "tests.inbox.test_board_bulk_views.refuse_everything"},
        ),
    ],
    ids=["too-large", "wrong-type", "empty", "virus"],
)
def test_refused_attachments_write_nothing(people, media, settings, upload, overrides):
    for key, value in overrides.items():
        setattr(settings, key, value)
    order = start_order(people, "PO-1")
    client = as_(people["lead"])
    before = written()
    response = client.post(reverse("inbox:instance_attach", args=[order.pk]), {"file": upload()})
    assert response.status_code == 400
    assert written() == before
    assert list(media.rglob("*")) == [] or all(p.is_dir() for p in media.rglob("*"))
