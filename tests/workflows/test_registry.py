"""Definition versions: new instances start on the newest version of their kind; a running
instance keeps the rules of the version it started on until it finishes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from django.apps import apps

from apps.audit.models import AuditEvent
from apps.core.errors import UnknownProcessKind
from apps.humantasks.models import HumanTask
from apps.humantasks.services import task_complete
from apps.workflows import registry
from apps.workflows.models import WorkflowInstance
from apps.workflows.processes import PurchaseOrderApproval
from apps.workflows.services import instance_transition
from tests.db_state import writes_nothing
from tests.factories import start_purchase_order
from tests.process_steps import decide, open_task, state_of

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def purchase_order_v2() -> Iterator[Callable[..., type[WorkflowInstance]]]:
    """Registers, when called, a version 2 of purchase orders in which finance also approves
    everything above 1000; unregisters it (from the registry and from Django) afterwards."""
    defined: list[type[WorkflowInstance]] = []

    def define(class_name: str = "PurchaseOrderApprovalV2") -> type[WorkflowInstance]:
        meta = type("Meta", (), {"app_label": "workflows", "proxy": True})
        attributes = {
            "__module__": __name__,
            "Meta": meta,
            "process_version": 2,
            "TEAM_LEAD_LIMIT": Decimal("1000"),
        }
        definition = type(class_name, (PurchaseOrderApproval,), attributes)
        defined.append(definition)
        return registry.register(definition)

    yield define

    for definition in defined:
        if registry._definitions.get((definition.process_name, definition.process_version)) is definition:
            del registry._definitions[(definition.process_name, definition.process_version)]
        WorkflowInstance._meta.get_field("state").transitions.pop(definition, None)
        apps.all_models["workflows"].pop(definition._meta.model_name, None)
    apps.clear_cache()


def test_instance_records_the_version_it_started_on(people):
    order = start_purchase_order(people["requester"], amount=1200, business_key="PO-1")

    assert order.definition_version == PurchaseOrderApproval.process_version == 1
    started = AuditEvent.objects.get(instance=order, action="instance.started")
    assert started.data["definition_version"] == 1


def test_newer_version_serves_new_instances_while_running_ones_keep_their_rules(people, purchase_order_v2):
    running = start_purchase_order(people["requester"], amount=1200, business_key="PO-OLD")
    revising = start_purchase_order(people["requester"], amount=1200, business_key="PO-REV")
    decide(open_task(revising), people["lead"], "request_changes", comment="Second quote please")

    v2 = purchase_order_v2()
    fresh = start_purchase_order(people["requester"], amount=1200, business_key="PO-NEW")

    assert registry.definition_latest("purchase_order") is v2
    assert (fresh.definition_version, type(fresh)) == (2, v2)
    assert AuditEvent.objects.get(instance=fresh, action="instance.started").data["definition_version"] == 2
    assert WorkflowInstance.objects.get(pk=running.pk).definition_version == 1

    # Version 2: 1200 is above its team-lead limit, so finance approves as well.
    decide(open_task(fresh), people["lead"])
    assert state_of(fresh) == "finance_review"
    # Version 1: the team lead alone approves up to 5000, even after version 2 arrived...
    decide(open_task(running), people["lead"])
    assert state_of(running) == "approved"
    # ...and also when the order comes back for review with new figures.
    task_complete(
        task=open_task(revising), actor=people["requester"], outcome="resubmit", data={"amount": 3000}
    )
    decide(open_task(revising), people["lead2"])
    assert state_of(revising) == "approved"
    assert WorkflowInstance.objects.get(pk=revising.pk).definition_version == 1


def test_registering_another_definition_under_a_taken_version_is_refused(purchase_order_v2):
    first = purchase_order_v2()

    with pytest.raises(ValueError, match="registered twice"):
        purchase_order_v2("AnotherPurchaseOrderApprovalV2")
    assert registry.definition_latest("purchase_order") is first


def test_instance_whose_version_is_no_longer_registered_fails_clearly(people):
    order = start_purchase_order(people["requester"], amount=1200, business_key="PO-1")
    task = open_task(order)
    WorkflowInstance.objects.filter(pk=order.pk).update(definition_version=99)
    order.refresh_from_db()

    with writes_nothing(order, task), pytest.raises(UnknownProcessKind, match="version 99"):
        decide(task, people["lead"])
    with writes_nothing(order, task), pytest.raises(UnknownProcessKind, match="version 99"):
        instance_transition(instance=order, transition="cancel", actor=people["requester"])
    assert HumanTask.objects.get(pk=task.pk).state == "open"
