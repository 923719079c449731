"""Schemathesis against every operation as each role in turn (an API key per role), over a
few processes in several states: no 5xx, no answer the schema does not describe. The default
suite sends a few examples per operation and role; `manage.py test --slow` many more."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from apps.accounts.services import api_key_create
from apps.workflows.services import instance_start
from tests.api.test_schema import _in_process_wsgi, schema  # noqa: F401 (a fixture)
from tests.factories import employee_onboarding_data, purchase_order_data
from tests.process_steps import decide, open_task

ROLES = {
    "requester": ("Requesters",),
    "lead": ("Team leads",),
    "finance": ("Finance",),
    "manager": ("Managers",),
    "auditor": ("Auditors",),
    "integration": ("Integrations",),
    "outsider": (),
}
HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much]


@pytest.fixture
def role_keys(people, make_user, _in_process_wsgi) -> dict[str, str]:  # noqa: F811
    """An API key per role; every generated request is sent once with each."""
    order = instance_start(
        kind="purchase_order",
        business_key="PO-F-1",
        data=purchase_order_data(20_000),
        actor=people["requester"],
    )
    decide(open_task(order), people["lead"])
    instance_start(
        kind="employee_onboarding",
        business_key="ONB-F-1",
        data=employee_onboarding_data(),
        actor=people["hr"],
    )
    return {
        role: api_key_create(user=make_user(*groups, username=f"fuzz-{role}"), name="fuzz", actor=None)[1]
        for role, groups in ROLES.items()
    }


def _check(case, keys: dict[str, str]) -> None:
    for key in keys.values():
        case.call_and_validate(
            headers={"Authorization": f"Api-Key {key}"},
            checks=[not_a_server_error, status_code_conformance, content_type_conformance],
        )


@pytest.mark.postgres
@schema.parametrize()
@settings(max_examples=1, deadline=None, derandomize=True, suppress_health_check=HEALTH)
def test_each_role_gets_no_server_error(case, role_keys):
    _check(case, role_keys)


@pytest.mark.slow
@pytest.mark.postgres
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=HEALTH)
def test_each_role_gets_no_server_error_over_many_examples(case, role_keys):
    _check(case, role_keys)
