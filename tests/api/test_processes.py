"""An external system's whole conversation: read the kinds, start each one, work its tasks
to the end through the API, read the history."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from tests.api.conftest import start
from tests.factories import account_activation_data, employee_onboarding_data, purchase_order_data

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_process_kinds_describe_schema_states_transitions_and_steps(people, api):
    client = api(people["integration"])
    listing = client.get("/api/v1/process-kinds/")
    assert listing.status_code == 200
    kinds = {kind["name"]: kind for kind in listing.json()["results"]}
    assert set(kinds) == {"account_activation", "employee_onboarding", "purchase_order"}

    order = client.get("/api/v1/process-kinds/purchase_order/").json()
    assert order == kinds["purchase_order"]
    assert order["data_schema"]["required"] == ["amount", "currency", "supplier", "description"]
    assert {"new", "team_lead_review", "finance_review", "cfo_review", "approved", "cancelled"} <= set(
        order["states"]
    )
    transitions = {t["name"]: t for t in order["transitions"]}
    assert transitions["cancel"]["external"] is True and transitions["cancel"]["trigger"] == "external"
    assert transitions["approve_by_team_lead"]["external"] is False
    assert sorted(transitions["approve_by_team_lead"]["targets"]) == ["approved", "finance_review"]
    finance = next(step for step in order["human_steps"] if step["name"] == "finance_approval")
    assert finance["queue"] == "finance" and finance["policy"]["approvals_required"] == 2
    assert finance["outcomes"]["approve"] == "approve_by_finance"

    onboarding = kinds["employee_onboarding"]
    payroll = next(step for step in onboarding["human_steps"] if step["name"] == "payroll_setup")
    assert payroll["decision_schema"]["required"] == ["payroll_id"]
    assert [step["name"] for step in kinds["account_activation"]["automated_steps"]] == [
        "credit_check",
        "employment_verification",
    ]

    missing = client.get("/api/v1/process-kinds/invoice_exception/")
    assert missing.status_code == 404


def _claim_and_decide(client, task_id: int, outcome: str = "approve", **body) -> dict:
    claimed = client.post(f"/api/v1/tasks/{task_id}/claim/", format="json")
    assert claimed.status_code == 200, claimed.json()
    decided = client.post(
        f"/api/v1/tasks/{task_id}/complete/",
        {"outcome": outcome, **body},
        format="json",
        headers={"If-Match": claimed["ETag"]},
    )
    assert decided.status_code == 200, decided.json()
    assert decided.json()["state"] == "completed"
    return decided.json()


def _only_task(client, instance_id: int, **filters) -> dict:
    inbox = client.get("/api/v1/tasks/", {"instance": instance_id, **filters})
    assert inbox.status_code == 200
    [task] = inbox.json()["results"]
    return task


def test_purchase_order_over_the_finance_limit_goes_through_every_level(people, api):
    erp = api(people["requester"])
    started = start(erp, "purchase_order", "PO-API-1", purchase_order_data(60_000))
    assert started.status_code == 201, started.json()
    order = started.json()
    assert order["state"] == "team_lead_review" and order["requester"] == "requester"
    assert started["Location"] == f"/api/v1/instances/{order['id']}/"
    assert started["ETag"] == f'"{order["version"]}"'

    lead_task = _only_task(api(people["lead"]), order["id"])
    assert lead_task["step"] == "team_lead_approval" and lead_task["queue"] == "team-leads"
    _claim_and_decide(api(people["lead"]), lead_task["id"])

    for finance in ("finance", "finance2"):
        client = api(people[finance])
        task = client.get("/api/v1/tasks/", {"instance": order["id"], "state": "open"}).json()["results"][0]
        _claim_and_decide(client, task["id"])

    cfo_task = _only_task(api(people["cfo"]), order["id"])
    _claim_and_decide(api(people["cfo"]), cfo_task["id"], data={})

    final = erp.get(f"/api/v1/instances/{order['id']}/").json()
    assert final["state"] == "approved" and final["finished_at"] is not None
    assert final["open_tasks"] == [] and final["transitions_available"] == []

    history = erp.get(f"/api/v1/instances/{order['id']}/history/").json()["results"]
    assert [event["seq"] for event in history] == list(range(1, len(history) + 1))
    completed = [e for e in history if e["action"] == "task.completed"]
    assert [e["actor"] for e in completed] == ["lead", "finance", "finance2", "cfo"]
    assert {e["actor_type"] for e in completed} == {"api_client"}  # every decision came with an API key
    assert history[-1]["to_state"] == "approved"

    # The same history a page at a time, following `next`.
    paged, url = [], f"/api/v1/instances/{order['id']}/history/?page_size=4"
    while url:
        page = erp.get(url).json()
        assert len(page["results"]) <= 4
        paged += page["results"]
        url = page["next"]
    assert paged == history


def test_purchase_order_changes_requested_then_resubmitted_and_approved(people, api):
    requester = api(people["requester"])
    order = start(requester, "purchase_order", "PO-API-2", purchase_order_data(900)).json()
    lead = api(people["lead"])
    task = _only_task(lead, order["id"])
    _claim_and_decide(lead, task["id"], "request_changes", comment="Which drills?")

    revise = _only_task(requester, order["id"])
    assert revise["step"] == "revise_order" and revise["assignee"] == "requester"
    done = requester.post(
        f"/api/v1/tasks/{revise['id']}/complete/",
        {"outcome": "resubmit", "data": {"description": "Cordless drills, 18V"}},
        format="json",
    )
    assert done.status_code == 200, done.json()
    task = _only_task(lead, order["id"])
    _claim_and_decide(lead, task["id"])
    final = requester.get(f"/api/v1/instances/{order['id']}/").json()
    assert final["state"] == "approved"
    assert final["data"]["description"] == "Cordless drills, 18V"


def test_employee_onboarding_completes_when_all_three_teams_are_done(people, api):
    hr = api(people["hr"])
    onboarding = start(hr, "employee_onboarding", "EMP-API-1", employee_onboarding_data()).json()
    assert onboarding["state"] == "in_progress"
    for person, data in (
        ("payroll", {"payroll_id": "P-77"}),
        ("it", {"asset_tag": "LT-5"}),
        ("hr2", {"contract_signed": True}),
    ):
        client = api(people[person])
        task = _only_task(client, onboarding["id"])
        _claim_and_decide(client, task["id"], "done", data=data)
    final = hr.get(f"/api/v1/instances/{onboarding['id']}/").json()
    assert final["state"] == "completed"
    steps_done = [e["data"]["step"] for e in final["history"] if e["action"] == "task.completed"]
    assert sorted(steps_done) == ["hr_paperwork", "it_provisioning", "payroll_setup"]


def test_risky_account_activation_is_decided_by_a_risk_officer(
    people, api, django_capture_on_commit_callbacks
):
    crm = api(people["integration"])
    with django_capture_on_commit_callbacks(execute=True):
        # A national id ending in R scores as high risk with the simulated credit bureau.
        started = start(
            crm, "account_activation", "ACC-API-1", account_activation_data(national_id="AB-1234R")
        )
    assert started.status_code == 201, started.json()
    activation_id = started.json()["id"]
    assert crm.get(f"/api/v1/instances/{activation_id}/").json()["state"] == "risk_review"

    risk = api(people["risk"])
    task = _only_task(risk, activation_id)
    _claim_and_decide(risk, task["id"], "reject", comment="Score too high")
    final = crm.get(f"/api/v1/instances/{activation_id}/").json()
    assert final["state"] == "declined"
    actions = [event["action"] for event in final["history"]]
    assert actions.count("automation.step_succeeded") == 2
    assert AuditEvent.objects.filter(
        instance_id=activation_id, actor_label="risk", actor_type="api_client"
    ).exists()


def test_cancel_is_an_external_transition_offered_to_the_requester(people, api):
    requester = api(people["requester"])
    order = start(requester, "purchase_order", "PO-API-3", purchase_order_data(100)).json()
    assert order["transitions_available"] == ["cancel"]
    cancelled = requester.post(
        f"/api/v1/instances/{order['id']}/transitions/cancel/",
        {"data": {"reason": "Bought elsewhere"}},
        format="json",
        headers={"If-Match": f'"{order["version"]}"'},
    )
    assert cancelled.status_code == 200, cancelled.json()
    assert cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["open_tasks"] == []
    assert cancelled["ETag"] == f'"{order["version"] + 1}"'


def test_instances_list_filters(people, api):
    requester = api(people["requester"])
    small = start(requester, "purchase_order", "PO-F-1", purchase_order_data(100)).json()
    start(requester, "purchase_order", "PO-F-2", purchase_order_data(200))
    requester.post(f"/api/v1/instances/{small['id']}/transitions/cancel/", {}, format="json")

    def keys(**params):
        response = requester.get("/api/v1/instances/", params)
        assert response.status_code == 200, response.json()
        return sorted(instance["business_key"] for instance in response.json()["results"])

    assert keys() == ["PO-F-1", "PO-F-2"]
    assert keys(state="cancelled") == ["PO-F-1"]
    assert keys(business_key="PO-F-2") == ["PO-F-2"]
    assert keys(kind="employee_onboarding") == []
    assert keys(started_after="2000-01-01T00:00:00Z", started_before="2999-01-01T00:00:00Z") == [
        "PO-F-1",
        "PO-F-2",
    ]
    assert keys(started_after="2999-01-01T00:00:00Z") == []
    # Someone else's orders are not listed to a colleague with no task in them.
    assert api(people["requester2"]).get("/api/v1/instances/").json()["results"] == []


def test_transitions_the_caller_may_fire_now(people, api):
    order = start(api(people["requester"]), "purchase_order", "PO-API-T", purchase_order_data(100)).json()
    mine = api(people["requester"]).get(f"/api/v1/instances/{order['id']}/transitions/")
    assert mine.status_code == 200 and mine["ETag"] == f'"{order["version"]}"'
    [cancel] = mine.json()["results"]
    assert (
        cancel["name"] == "cancel"
        and "team_lead_review" in cancel["sources"]
        and cancel["targets"] == ["cancelled"]
    )
    # The team lead sees the order (it has their task) but may not cancel it.
    assert api(people["lead"]).get(f"/api/v1/instances/{order['id']}/transitions/").json()["results"] == []
    assert api(people["finance"]).get(f"/api/v1/instances/{order['id']}/transitions/").status_code == 404
