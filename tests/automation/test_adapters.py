"""The HTTP adapters and the circuit breaker, against a real HTTP server on loopback."""

from __future__ import annotations

import socket
import time

import pytest

from apps.automation.adapters import HttpCreditBureau
from apps.automation.breakers import breaker_state
from apps.automation.errors import PermanentAdapterError, TransientAdapterError
from tests.external_systems import Reply
from tests.factories import account_activation_data

CREDIT = "/credit-checks"


@pytest.fixture
def bureau(settings, http_systems):
    return HttpCreditBureau()


def run(bureau):
    return bureau.run(data=account_activation_data(), idempotency_key="instance-1:credit_check:v2")


@pytest.mark.parametrize(
    ("reply", "error", "message"),
    [
        (Reply(500), TransientAdapterError, "HTTP 500"),
        (Reply(503), TransientAdapterError, "HTTP 503"),
        (Reply(429), TransientAdapterError, "HTTP 429"),
        (Reply(200, delay=1.5), TransientAdapterError, "did not answer in time"),
        (Reply(400, {"detail": "bad id"}), PermanentAdapterError, "HTTP 400"),
        (Reply(404), PermanentAdapterError, "HTTP 404"),
        (Reply(200, ["not", "an", "object"]), PermanentAdapterError, "not an object"),
    ],
)
def test_answers_are_sorted_into_transient_and_permanent_failures(
    bureau, http_systems, reply, error, message
):
    http_systems.script(CREDIT, reply)
    with pytest.raises(error, match=message):
        run(bureau)


def test_an_unreachable_system_is_a_transient_failure(bureau, settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.AUTOMATION_CREDIT_BUREAU_URL = f"http://127.0.0.1:{closed_port}"
    with pytest.raises(TransientAdapterError, match="unreachable"):
        run(bureau)


def test_an_answer_carries_the_key_and_the_request(bureau, http_systems):
    assert run(bureau)["passed"] is True
    [request] = http_systems.requests_to(CREDIT)
    assert request.idempotency_key == "instance-1:credit_check:v2"
    assert request.body["national_id"] == "AB-1234"


def test_the_breaker_opens_after_failures_in_a_row_then_a_trial_call_closes_it(
    bureau, http_systems, settings
):
    settings.AUTOMATION_BREAKER_FAILURES = 3
    settings.AUTOMATION_BREAKER_RESET_SECONDS = 0.5
    http_systems.script(CREDIT, Reply(503), Reply(503), Reply(503))

    for _ in range(3):
        with pytest.raises(TransientAdapterError, match="HTTP 503"):
            run(bureau)
    assert breaker_state("credit_bureau") == "open"

    # While open, nothing reaches the system.
    with pytest.raises(TransientAdapterError, match="circuit breaker for credit_bureau is open"):
        run(bureau)
    assert len(http_systems.requests_to(CREDIT)) == 3

    time.sleep(0.6)
    assert run(bureau)["passed"] is True  # the trial call
    assert breaker_state("credit_bureau") == "closed"
    assert len(http_systems.requests_to(CREDIT)) == 4


def test_refusals_do_not_open_the_breaker(bureau, http_systems, settings):
    settings.AUTOMATION_BREAKER_FAILURES = 2
    http_systems.script(CREDIT, Reply(400), Reply(400), Reply(400))
    for _ in range(3):
        with pytest.raises(PermanentAdapterError):
            run(bureau)
    assert breaker_state("credit_bureau") == "closed"
