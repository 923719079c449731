"""instance_transition: only external transitions, only by those allowed, only from the right
state; every refusal writes nothing."""

from __future__ import annotations

import pytest

from apps.core.errors import (
    InvalidProcessData,
    NotFound,
    NotPermitted,
    StaleVersion,
    TransitionNotAllowed,
)
from apps.workflows.services import instance_transition
from tests.db_state import audit_actions, writes_nothing
from tests.factories import start_account_activation
from tests.process_steps import open_task

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.mark.parametrize(
    ("transition", "message"),
    [
        ("teleport", "has no transition"),
        ("", "has no transition"),
        ("approve_by_cfo", "cannot be requested directly"),
        ("approve_by_team_lead", "cannot be requested directly"),
        ("withdraw", "cannot be requested directly"),
        ("start", "cannot be requested directly"),
        ("__init__", "has no transition"),
        ("save", "has no transition"),
    ],
)
def test_only_declared_external_transitions_can_be_requested(people, order, transition, message):
    task = open_task(order)

    with writes_nothing(order, task), pytest.raises(TransitionNotAllowed, match=message):
        instance_transition(instance=order, transition=transition, actor=people["manager"])


def test_system_transition_cannot_be_requested(people, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        application = start_account_activation(people["integration"], business_key="ACC-1")

    with writes_nothing(application), pytest.raises(TransitionNotAllowed, match="by an automated step"):
        instance_transition(
            instance=application,
            transition="record_credit_check",
            actor=people["manager"],
            data={"passed": True, "score": 1},
        )


def test_cancel_of_a_finished_instance_is_a_conflict(people, order):
    instance_transition(instance=order, transition="cancel", actor=people["requester"])
    order.refresh_from_db()

    with writes_nothing(order), pytest.raises(TransitionNotAllowed, match="that is cancelled"):
        instance_transition(instance=order, transition="cancel", actor=people["requester"])


def test_inactive_requester_may_no_longer_cancel(people, order):
    people["requester"].is_active = False
    people["requester"].save(update_fields=["is_active"])

    with writes_nothing(order), pytest.raises(NotPermitted):
        instance_transition(instance=order, transition="cancel", actor=people["requester"])


@pytest.mark.parametrize("data", [[], "because", 3])
def test_data_that_is_not_an_object_is_refused(people, order, data):
    with writes_nothing(order), pytest.raises(InvalidProcessData):
        instance_transition(instance=order, transition="cancel", actor=people["requester"], data=data)


def test_stale_expected_version_is_refused(people, order):
    with writes_nothing(order), pytest.raises(StaleVersion, match=f"version {order.version}, not 1"):
        instance_transition(
            instance=order, transition="cancel", actor=people["requester"], expected_version=1
        )

    instance_transition(
        instance=order, transition="cancel", actor=people["requester"], expected_version=order.version
    )
    assert audit_actions(order)[-1] == "task.cancelled"


@pytest.mark.parametrize("instance_id", [10**9, -1, "PO-1", None])
def test_unknown_instance_is_not_found(people, order, instance_id):
    with writes_nothing(order), pytest.raises(NotFound):
        instance_transition(instance=instance_id, transition="cancel", actor=people["requester"])
