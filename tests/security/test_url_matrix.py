# ruff: noqa: E501 (the matrix reads as a table, one row a line)
"""Every URL pattern of the site (API, pages, fragments, websockets), as every role, against an
object inside the role's reach and one outside it.

The list of patterns comes from the URL configuration itself (`get_resolver()` and the ASGI
application's websocket router), so an endpoint added without a row here fails
`test_every_url_pattern_has_a_row`, naming the pattern. Adding a row is one line in MATRIX:

    "tasks/<int:task_id>/claim/": row("POST", "task", "302/302 409/404 302/404 ..."),

The cells are "inside/outside" statuses for the ROLES in order: the status for the role's own
object (the `reach` fixture: a task of its queue, its instance, its own webhook endpoint,
saved view, notification, an attachment on its instance, a kind it may start) and for one
outside its reach (a confidential task of another requester's order granted to the CFO alone,
that order, another person's endpoint, view, notification, an attachment on that order, a kind
none of ROLES may start). Outside answers 404 (never a hint that it exists) or 403 for what is
public knowledge (process kinds). Auditors review every decision: they read every task and
instance, confidential ones included (apps.humantasks.selectors.is_auditor), so their outside
cells of task and instance rows are their inside ones: reads 200, writes 403/409 (read-only).
A pattern without an object (target "") answers both cells with one request. The websocket
row is only listed (its close codes are proved by tests/live). Each request runs in a savepoint
that is rolled back, so one setup serves every cell.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from apps.humantasks.models import HumanTask
from apps.humantasks.services import task_grant
from apps.humantasks.services.comments import attachment_add
from apps.inbox.services import saved_view_create
from apps.notifications.models import Notification
from apps.webhooks.services.endpoints import endpoint_create, endpoint_ping
from apps.workflows.services import instance_start
from tests.factories import employee_onboarding_data, purchase_order_data
from tests.process_steps import decide, open_task, open_tasks

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

ROLES = ("anonymous", "requester", "lead", "finance", "manager", "auditor", "outsider")
# A whole URL tree whose permissions one framework checks as one: a single row covers it.
TREES = ("admin/",)


@dataclass(frozen=True)
class Row:
    method: str
    # What the pattern's arguments name: "task", "instance", "instance-cancel", "kind",
    # "start-kind", "endpoint", "delivery", "view", "notification", "attachment" or "" (none).
    target: str
    expected: dict[str, tuple[int, int]]
    body: dict[str, Any] | None = None
    path: str = ""  # a concrete path, for patterns whose arguments are no object (regexes)


def row(method: str, target: str, cells: str, *, body: dict[str, Any] | None = None, path: str = "") -> Row:
    """`cells`: "inside/outside" per role of ROLES, separated by spaces."""
    pairs = [tuple(int(code) for code in cell.split("/")) for cell in cells.split()]
    assert len(pairs) == len(ROLES), f"{len(pairs)} cells for {len(ROLES)} roles: {cells!r}"
    return Row(method, target, dict(zip(ROLES, pairs, strict=True)), body, path)  # type: ignore[arg-type]


# In a body, these stand for the target task's id and version, the target saved view's id
# (in field names too: its edit form's prefix) and a freshly made small PDF.
TASK_ID, TASK_VERSION, VIEW_ID, A_FILE = "<task id>", "<task version>", "<view id>", "<a file>"
TASK_ACTION = {"outcome": "approve", "comment": "ok"}
PAGE_ACTION = {"version": TASK_VERSION}
PAGE_DECISION = {"version": TASK_VERSION, "outcome": "approve", "comment": "ok", "data": "{}"}
BULK = {"action": "complete", "items": [{"task": TASK_ID, **TASK_ACTION}]}
# fmt: off
MATRIX: dict[str, Row] = {
    # --- pages and their fragments ------------------------------------------------------------------
    "": row("GET", "", "302/302 200/200 200/200 200/200 200/200 200/200 200/200"),
    "tasks/<int:task_id>/": row("GET", "task", "302/302 200/404 200/404 200/404 200/404 200/200 404/404"),
    "tasks/<int:task_id>/claim/": row("POST", "task", "302/302 409/404 302/404 302/404 403/404 403/403 404/404", body=PAGE_ACTION),
    "tasks/<int:task_id>/unclaim/": row("POST", "task", "302/302 302/404 409/404 409/404 409/404 409/409 404/404", body=PAGE_ACTION),
    "tasks/<int:task_id>/decide/": row("POST", "task", "302/302 400/404 302/404 302/404 403/404 403/403 404/404", body=PAGE_DECISION),
    "tasks/<int:task_id>/row/": row("GET", "task", "302/302 200/404 200/404 200/404 200/404 200/200 404/404"),
    "tasks/bulk/": row("POST", "task", "302/302 200/200 200/200 200/200 200/200 200/200 200/200", body={"action": "claim", "task": TASK_ID}),
    "start/": row("GET", "", "302/302 200/200 200/200 200/200 200/200 200/200 200/200"),
    "start/<slug:kind>/": row("GET", "start-kind", "302/302 200/403 403/403 403/403 403/403 403/403 403/403"),
    "inbox/counts/": row("GET", "", "302/302 200/200 200/200 200/200 200/200 200/200 200/200"),
    "notifications/": row("GET", "", "302/302 200/200 200/200 200/200 200/200 200/200 200/200"),
    "notifications/bell/": row("GET", "", "302/302 200/200 200/200 200/200 200/200 200/200 200/200"),
    "notifications/read-all/": row("POST", "", "302/302 302/302 302/302 302/302 302/302 302/302 302/302"),
    "notifications/<int:notification_id>/read/": row("POST", "notification", "302/302 302/404 302/404 302/404 302/404 302/404 302/404"),
    "notifications/preferences/": row("GET", "", "302/302 200/200 200/200 200/200 200/200 200/200 200/200"),
    "board/": row("GET", "", "302/302 200/200 200/200 200/200 200/200 200/200 200/200"),
    "views/": row("GET", "", "302/302 200/200 200/200 200/200 200/200 200/200 200/200"),
    "views/<int:view_id>/edit/": row("POST", "view", "302/302 302/404 302/404 302/404 302/404 302/404 302/404", body={f"view-{VIEW_ID}-name": "Renamed"}),
    "views/<int:view_id>/delete/": row("POST", "view", "302/302 302/404 302/404 302/404 302/404 302/404 302/404"),
    "views/<int:view_id>/default/": row("POST", "view", "302/302 302/404 302/404 302/404 302/404 302/404 302/404"),
    "processes/<int:instance_id>/comments/": row("POST", "instance", "302/302 302/404 302/404 302/404 302/404 403/403 404/404", body={"body": "Checked the quote."}),
    "processes/<int:instance_id>/attachments/": row("POST", "instance", "302/302 302/404 302/404 302/404 302/404 403/403 404/404", body={"file": A_FILE}),
    "attachments/<int:attachment_id>/": row("GET", "attachment", "302/302 200/404 200/404 200/404 200/404 200/200 404/404"),
    # --- the auditors' and managers' workspace: theirs alone; everyone else learns nothing -------------
    "oversight/": row("GET", "", "302/302 404/404 404/404 404/404 200/200 200/200 404/404"),
    "oversight/events/": row("GET", "", "302/302 404/404 404/404 404/404 404/404 200/200 404/404"),
    "oversight/events/export.<str:file_format>": row("GET", "", "302/302 404/404 404/404 404/404 404/404 200/200 404/404", path="/oversight/events/export.csv"),
    # A manager reads the processes of their queues; the outside one has only a confidential task.
    "oversight/instances/<int:instance_id>/": row("GET", "instance", "302/302 404/404 404/404 404/404 200/404 200/200 404/404"),
    "oversight/processes/<slug:kind>/": row("GET", "", "302/302 404/404 404/404 404/404 200/200 200/200 404/404", path="/oversight/processes/purchase_order/"),
    "oversight/verification/": row("GET", "", "302/302 404/404 404/404 404/404 404/404 200/200 404/404"),
    "oversight/verification/start/": row("POST", "", "302/302 404/404 404/404 404/404 404/404 302/302 404/404"),
    "oversight/verification/<int:verification_id>/": row("GET", "", "302/302 404/404 404/404 404/404 404/404 404/404 404/404", path="/oversight/verification/999999/"),
    "oversight/dashboard/": row("GET", "", "302/302 404/404 404/404 404/404 200/200 200/200 404/404"),
    # Prometheus scrapes from loopback (the test client's address) or with METRICS_TOKEN.
    "metrics": row("GET", "", "200/200 200/200 200/200 200/200 200/200 200/200 200/200"),
    "accounts/login/": row("GET", "", "200/200 200/200 200/200 200/200 200/200 200/200 200/200"),
    "accounts/logout/": row("POST", "", "302/302 302/302 302/302 302/302 302/302 302/302 302/302"),
    "oidc/authenticate/": row("GET", "", "404/404 404/404 404/404 404/404 404/404 404/404 404/404"),
    "oidc/callback/": row("GET", "", "404/404 404/404 404/404 404/404 404/404 404/404 404/404"),
    "admin/": row("GET", "", "302/302 302/302 302/302 302/302 302/302 200/200 302/302"),
    # --- the API's schema and docs ------------------------------------------------------------------
    "api/schema/": row("GET", "", "200/200 200/200 200/200 200/200 200/200 200/200 200/200"),
    "api/docs/": row("GET", "", "200/200 200/200 200/200 200/200 200/200 200/200 200/200"),
    # --- the API ------------------------------------------------------------------------------------
    "api/v1/process-kinds/": row("GET", "", "401/401 200/200 200/200 200/200 200/200 200/200 200/200"),
    "api/v1/process-kinds/<str:name>/": row("GET", "kind", "401/401 200/404 200/404 200/404 200/404 200/404 200/404"),
    "api/v1/instances/": row("GET", "", "401/401 200/200 200/200 200/200 200/200 200/200 200/200"),
    "api/v1/instances/<str:pk>/": row("GET", "instance", "401/401 200/404 200/404 200/404 200/404 200/200 404/404"),
    "api/v1/instances/<str:pk>/history/": row("GET", "instance", "401/401 200/404 200/404 200/404 200/404 200/200 404/404"),
    "api/v1/instances/<str:pk>/transitions/": row("GET", "instance", "401/401 200/404 200/404 200/404 200/404 200/200 404/404"),
    "api/v1/instances/<str:pk>/transitions/<str:name>/": row("POST", "instance-cancel", "401/401 200/404 403/404 403/404 200/404 403/403 404/404"),
    "api/v1/tasks/": row("GET", "", "401/401 200/200 200/200 200/200 200/200 200/200 200/200"),
    # The envelope answers 200; each item its own status (tests/api/test_idempotency_and_bulk.py).
    "api/v1/tasks/bulk/": row("POST", "task", "401/401 200/200 200/200 200/200 200/200 200/200 200/200", body=BULK),
    "api/v1/tasks/<str:pk>/": row("GET", "task", "401/401 200/404 200/404 200/404 200/404 200/200 404/404"),
    "api/v1/tasks/<str:pk>/claim/": row("POST", "task", "401/401 409/404 200/404 200/404 403/404 403/403 404/404"),
    "api/v1/tasks/<str:pk>/unclaim/": row("POST", "task", "401/401 200/404 409/404 409/404 409/404 409/409 404/404"),
    "api/v1/tasks/<str:pk>/complete/": row("POST", "task", "401/401 400/404 200/404 200/404 403/404 403/403 404/404", body=TASK_ACTION),
    "api/v1/tasks/<str:pk>/reassign/": row("POST", "task", "401/401 403/404 403/404 403/404 200/404 403/403 404/404", body={"reason": "cover", "to_user": "lead2"}),
    "api/v1/tasks/<str:pk>/delegate/": row("POST", "task", "401/401 400/404 403/404 403/404 403/404 403/403 404/404", body={"to_user": "lead2"}),
    "api/v1/tasks/<str:pk>/priority/": row("POST", "task", "401/401 403/404 403/404 403/404 200/404 403/403 404/404", body={"priority": 90, "reason": "The supplier waits"}),
    "api/v1/tasks/<str:pk>/due/": row("POST", "task", "401/401 403/404 403/404 403/404 200/404 403/403 404/404", body={"due_at": "2031-01-01T12:00:00Z", "reason": "The supplier waits"}),
    "api/v1/webhook-endpoints/": row("GET", "", "401/401 200/200 200/200 200/200 200/200 200/200 200/200"),
    "api/v1/webhook-endpoints/<str:pk>/": row("GET", "endpoint", "401/401 200/404 200/404 200/404 200/404 200/404 200/404"),
    "api/v1/webhook-endpoints/<str:pk>/rotate-secret/": row("POST", "endpoint", "401/401 200/404 200/404 200/404 200/404 200/404 200/404"),
    "api/v1/webhook-endpoints/<str:pk>/ping/": row("POST", "endpoint", "401/401 202/404 202/404 202/404 202/404 202/404 202/404"),
    "api/v1/webhook-endpoints/<str:pk>/redeliver/": row("POST", "endpoint", "401/401 202/404 202/404 202/404 202/404 202/404 202/404", body={"created_after": "2020-01-01T00:00:00Z", "created_before": "2040-01-01T00:00:00Z"}),
    "api/v1/webhook-endpoints/<str:pk>/deliveries/": row("GET", "endpoint", "401/401 200/404 200/404 200/404 200/404 200/404 200/404"),
    "api/v1/webhook-endpoints/<str:pk>/deliveries/<str:delivery>/": row("GET", "delivery", "401/401 200/404 200/404 200/404 200/404 200/404 200/404"),
    "api/v1/webhook-endpoints/<str:pk>/deliveries/<str:delivery>/redeliver/": row("POST", "delivery", "401/401 202/404 202/404 202/404 202/404 202/404 202/404"),
    "api/v1/queues/": row("GET", "", "401/401 200/200 200/200 200/200 200/200 200/200 200/200"),
    "api/v1/audit-events/": row("GET", "", "401/401 403/403 403/403 403/403 403/403 200/200 403/403"),
    "api/v1/audit-events/export/": row("GET", "", "401/401 403/403 403/403 403/403 403/403 200/200 403/403"),
    "api/v1/^.*$": row("GET", "", "404/404 404/404 404/404 404/404 404/404 404/404 404/404", path="/api/v1/nothing-here/"),
    # --- websockets (ws:<route>): checked by tests/live (who hears which stream) --------------------
    # 101: the socket opens; 4401: closed at once, not signed in (tests/live/test_two_servers.py).
    "ws:ws/inbox/": row("WS", "", "4401/4401 101/101 101/101 101/101 101/101 101/101 101/101"),
}
# fmt: on


def url_patterns() -> list[str]:
    """Every route of the site: HTTP patterns from the URL conf (a TREES entry stands for its
    whole tree), websocket routes from the ASGI application as "ws:<route>"."""
    found: list[str] = []

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                if route in TREES:
                    found.append(route)
                else:
                    walk(pattern.url_patterns, route)
            else:
                found.append(route)

    walk(get_resolver().url_patterns, "")
    return found + [f"ws:{route}" for route in websocket_routes()]


def websocket_routes() -> list[str]:
    from config.asgi import application

    router = getattr(application, "application_mapping", {}).get("websocket")
    for _depth in range(10):  # through AuthMiddlewareStack, origin validators, ...
        if router is None or hasattr(router, "routes"):
            break
        router = (
            getattr(router, "inner", None)
            or getattr(router, "application", None)
            # a wrapper written as a function (apps.live.auth): the application it closes over
            or (
                inspect.getclosurevars(router).nonlocals.get("application")
                if inspect.isfunction(router)
                else None
            )
        )
    routes: list[str] = []

    def walk(entries: list[Any], prefix: str) -> None:
        for entry in entries:
            inner = getattr(entry.callback, "routes", None) if hasattr(entry, "callback") else None
            route = prefix + str(entry.pattern)
            if inner is not None:
                walk(inner, route)
            else:
                routes.append(route)

    if router is not None:
        walk(router.routes, "")
    return routes


def test_every_url_pattern_has_a_row():
    patterns = url_patterns()
    missing = [pattern for pattern in patterns if pattern not in MATRIX]
    assert not missing, (
        "These URL patterns have no row in tests/security/test_url_matrix.py MATRIX "
        "(add one per pattern: who gets which status, inside and outside their reach):\n  "
        + "\n  ".join(missing)
    )
    stale = sorted(set(MATRIX) - set(patterns))
    assert not stale, f"MATRIX rows for patterns that no longer exist: {stale}"


@pytest.fixture
def reach(people) -> dict[str, dict[str, Any]]:
    """Per role, the objects inside its reach; and one outside everyone's: a confidential task
    of another requester's order, granted to the CFO alone."""
    order = instance_start(
        kind="purchase_order", business_key="PO-IN", data=purchase_order_data(), actor=people["requester"]
    )
    team_lead = open_task(order)
    finance_order = instance_start(
        kind="purchase_order",
        business_key="PO-FIN",
        data=purchase_order_data(20_000),
        actor=people["requester"],
    )
    decide(open_task(finance_order), people["lead2"])
    revised = instance_start(
        kind="purchase_order", business_key="PO-REV", data=purchase_order_data(), actor=people["requester"]
    )
    decide(open_task(revised), people["lead2"], "request_changes", comment="Add a quote")
    hidden = open_task(
        instance_start(
            kind="purchase_order",
            business_key="PO-OUT",
            data=purchase_order_data(),
            actor=people["requester2"],
        )
    )
    HumanTask.objects.filter(pk=hidden.pk).update(is_confidential=True)
    hidden.refresh_from_db()
    task_grant(task=hidden, user=people["cfo"], actor=people["manager"])
    instance_start(
        kind="employee_onboarding", business_key="ONB-1", data=employee_onboarding_data(), actor=people["hr"]
    )
    own = {"task": team_lead, "instance": order}
    inside = {
        "anonymous": own,
        "requester": {"task": open_task(revised), "instance": revised},
        "lead": own,
        "finance": {"task": open_tasks(finance_order)[0], "instance": finance_order},
        "manager": own,
        "auditor": own,
        "outsider": own,
    }
    outside = {
        "task": hidden,
        "instance": hidden.instance,
        **_belongings(people["requester2"], hidden.instance),
    }
    # What is one's own whatever one's queues: webhook endpoints, saved views, notifications.
    # An attachment is as visible as its instance. The kind to start is one the role may
    # start (only requesters may start a purchase order); outside: one nobody of ROLES may.
    inside = {
        role: {
            **objects,
            **_belongings(people.get(role, people["requester2"]), objects["instance"]),
            "kind": "purchase_order",
        }
        for role, objects in inside.items()
    }
    outside["kind"] = "employee_onboarding"
    return {"inside": inside, "outside": outside}


def _belongings(person, instance) -> dict[str, Any]:
    """`person`'s own webhook endpoint (with one delivery), private saved view and
    notification, and an attachment on `instance` (stored by someone who may see it)."""
    endpoint, _secret = endpoint_create(
        owner=person, url="https://hooks.example.com/in", event_types=["task.created"], actor=person
    )
    delivery = endpoint_ping(endpoint=endpoint, actor=person)
    view = saved_view_create(owner=person, name=f"Mine {person.pk} {instance.pk}", filters={})
    notification = Notification.objects.create(
        user=person,
        message_id=instance.pk,
        kind=Notification.Kind.ASSIGNED,
        title="PO",
        text="Assigned to you",
    )
    attachment = attachment_add(instance_id=instance.pk, actor=instance.requester, file=_a_pdf())
    return {
        "endpoint": endpoint,
        "delivery": delivery,
        "view": view,
        "notification": notification,
        "attachment": attachment,
    }


def _a_pdf() -> SimpleUploadedFile:
    return SimpleUploadedFile("quote.pdf", b"%PDF-1.4 a quote", content_type="application/pdf")


def _path(pattern: str, spec: Row, objects: dict[str, Any] | None) -> str:
    if spec.path:
        return spec.path
    path = "/" + pattern
    if spec.target == "kind":
        return path.replace("<str:name>", "purchase_order" if objects is not None else "no_such_kind")
    if spec.target == "task":
        return path.replace("<int:task_id>", str(objects["task"].pk)).replace(
            "<str:pk>", str(objects["task"].pk)
        )
    if spec.target == "start-kind":
        return path.replace("<slug:kind>", objects["kind"])
    if spec.target == "instance":
        return path.replace("<str:pk>", str(objects["instance"].pk)).replace(
            "<int:instance_id>", str(objects["instance"].pk)
        )
    if spec.target == "endpoint":
        return path.replace("<str:pk>", str(objects["endpoint"].pk))
    if spec.target == "delivery":
        # Outside: another person's endpoint and its delivery.
        return path.replace("<str:pk>", str(objects["endpoint"].pk)).replace(
            "<str:delivery>", str(objects["delivery"].pk)
        )
    if spec.target in ("view", "notification", "attachment"):
        return path.replace(f"<int:{spec.target}_id>", str(objects[spec.target].pk))
    if spec.target == "instance-cancel":
        return path.replace("<str:pk>", str(objects["instance"].pk)).replace("<str:name>", "cancel")
    return path


def _filled(body: Any, objects: dict[str, Any]) -> Any:
    task, view = objects.get("task"), objects.get("view")
    if isinstance(body, dict):
        return {
            (key.replace(VIEW_ID, str(view.pk)) if view is not None else key): _filled(value, objects)
            for key, value in body.items()
        }
    if isinstance(body, list):
        return [_filled(value, objects) for value in body]
    if body == A_FILE:
        return _a_pdf()
    if task is not None and body == TASK_ID:
        return task.pk
    if task is not None and body == TASK_VERSION:
        task.refresh_from_db()
        return task.version
    return body


def _status(people, key_for, role: str, method: str, path: str, body: dict[str, Any] | None) -> int:
    client = APIClient()
    if role != "anonymous":
        if path.startswith("/api/v1/"):
            client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(people[role])}")
        else:
            client.force_login(people[role])
    with transaction.atomic():
        if method == "GET":
            response = client.get(path)
        else:
            response = client.post(path, body or {}, format="json" if path.startswith("/api/") else None)
        transaction.set_rollback(True)
    return response.status_code


def test_every_role_gets_its_row_for_every_pattern(people, reach, key_for):
    people["auditor"].is_staff = True
    people["auditor"].save()
    differences = []
    for pattern in url_patterns():
        spec = MATRIX.get(pattern)
        if spec is None or pattern.startswith("ws:"):
            continue  # reported by test_every_url_pattern_has_a_row; websockets by their own test
        for role in ROLES:
            if not spec.target:  # no object in the path: one request answers both cells
                status = _status(people, key_for, role, spec.method, _path(pattern, spec, None), spec.body)
                got: tuple[int, ...] = (status, status)
            else:
                got = tuple(
                    _status(
                        people,
                        key_for,
                        role,
                        spec.method,
                        _path(
                            pattern, spec, None if spec.target == "kind" and where == "outside" else objects
                        ),
                        _filled(spec.body, objects),
                    )
                    for where, objects in (("inside", reach["inside"][role]), ("outside", reach["outside"]))
                )
            if got != spec.expected[role]:
                differences.append(
                    f"{spec.method} {pattern} as {role}: expected {spec.expected[role]}, got {got}"
                )
    assert not differences, "\n".join(differences)
