"""The OpenAPI schema is the contract: schemathesis generates requests from it for every
operation and checks that none gets a 5xx or an answer the schema does not describe."""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.accounts.services import api_key_create
from tests.factories import start_purchase_order


@pytest.fixture
def _in_process_wsgi(db, settings):
    # The WSGI handler closes "old" connections when a request starts and finishes, which would
    # end the test's transaction; the test client disconnects the same receivers for its requests.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    settings.API_THROTTLE_RATES = {
        "client": "100000/minute",
        "user": "100000/minute",
        "anonymous": "100000/minute",
    }
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def caller_key(make_user, _in_process_wsgi) -> str:
    """A person in several roles, so requests reach past the permission checks."""
    user = make_user("Requesters", "Team leads", "Managers", "Auditors", "HR", username="schema-caller")
    someone = make_user("Requesters", username="schema-requester")
    for number in range(3):
        start_purchase_order(someone, amount=100, business_key=f"PO-S-{number}")
    return api_key_create(user=user, name="schemathesis", actor=None)[1]


# Loaded when the module is imported (serving the schema needs no database); each case is then
# sent through the same WSGI application, in the test's transaction.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.mark.postgres
@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_no_server_errors_and_no_answers_outside_the_schema(case, caller_key):
    case.call_and_validate(
        headers={"Authorization": f"Api-Key {caller_key}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
