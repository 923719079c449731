"""Adapters to the external systems automated steps call, behind one small interface.

An adapter takes the instance's business data and the step run's idempotency key and
returns the step's result (a JSON object handed to the step's result transition). Which
class serves which system is configuration: settings.AUTOMATION_ADAPTERS maps the name a
step declares to a class.

Failures come in two kinds, and the step service treats them differently:
- TransientAdapterError: timeouts, connection errors, 5xx/429, an open circuit breaker.
  The step is tried again later, with exponential backoff and jitter.
- PermanentAdapterError: 4xx, an answer that makes no sense. Trying again cannot help, so
  the step goes straight to the dead letters (an operations task).

The HTTP adapters pass the idempotency key along (header `Idempotency-Key`), so a step
that is run twice (its worker was killed after the call) asks the system once in effect.
The embedded default ships simulated systems that answer from the data, with
configurable delays and failure rates so the demo shows retries and failures honestly.
"""

from __future__ import annotations

import hashlib
import random
import time
from typing import Any, Protocol

import httpx
from django.conf import settings
from django.utils.module_loading import import_string

from apps.automation.breakers import breaker_call
from apps.automation.errors import PermanentAdapterError, TransientAdapterError


class StepAdapter(Protocol):
    system: str

    def run(self, *, data: dict[str, Any], idempotency_key: str = "") -> dict[str, Any]: ...


def adapter_for(name: str) -> StepAdapter:
    try:
        dotted = settings.AUTOMATION_ADAPTERS[name]
    except KeyError:
        raise PermanentAdapterError(f"No adapter is configured for {name!r}.") from None
    return import_string(dotted)()


# --- Over HTTP ---------------------------------------------------------------------------------------


class HttpAdapter:
    """POST the request as JSON to `<base url><path>` and return the JSON object it answers.

    One call is one attempt: retries are the step service's, so that a worker never sleeps
    through a backoff and a retry survives the worker's restart.
    """

    system = ""
    path = ""
    base_url_setting = ""

    def request_body(self, data: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def run(self, *, data: dict[str, Any], idempotency_key: str = "") -> dict[str, Any]:
        base_url = getattr(settings, self.base_url_setting)
        if not base_url:
            raise PermanentAdapterError(
                f"{self.base_url_setting} is not set: no address for the {self.system}."
            )
        return breaker_call(
            self.system, self._post, f"{base_url.rstrip('/')}{self.path}", data, idempotency_key
        )

    def _post(self, url: str, data: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        try:
            with httpx.Client(timeout=settings.AUTOMATION_HTTP_TIMEOUT_SECONDS) as client:
                response = client.post(url, json=self.request_body(data), headers=headers)
        except httpx.TimeoutException as error:
            raise TransientAdapterError(
                f"{self.system} did not answer in time ({type(error).__name__})"
            ) from error
        except httpx.TransportError as error:
            raise TransientAdapterError(f"{self.system} unreachable: {error}") from error
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientAdapterError(f"{self.system} answered HTTP {response.status_code}")
        if response.status_code >= 400:
            raise PermanentAdapterError(
                f"{self.system} refused the request: HTTP {response.status_code} {response.text[:300]}"
            )
        try:
            result = response.json()
        except ValueError:
            raise PermanentAdapterError(f"{self.system} answered something that is not JSON") from None
        if not isinstance(result, dict):
            raise PermanentAdapterError(f"{self.system} answered {type(result).__name__}, not an object")
        return result


class HttpCreditBureau(HttpAdapter):
    system = "credit_bureau"
    path = "/credit-checks"
    base_url_setting = "AUTOMATION_CREDIT_BUREAU_URL"

    def request_body(self, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "national_id": data["national_id"],
            "name": data["customer_name"],
            "limit": data["requested_limit"],
        }


class HttpEmploymentVerifier(HttpAdapter):
    system = "employment_verifier"
    path = "/employment-verifications"
    base_url_setting = "AUTOMATION_EMPLOYMENT_VERIFIER_URL"

    def request_body(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"name": data["customer_name"], "employer": data["employer"]}


# --- Simulated (the embedded default) ---------------------------------------------------------------------


def _stable_number(text: str, modulo: int) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % modulo


class SimulatedSystem:
    """Behaves like a remote system: takes AUTOMATION_SIMULATED_DELAY_SECONDS to answer and
    fails at the configured transient and permanent rates, through the same breaker."""

    system = ""

    def answer(self, data: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def run(self, *, data: dict[str, Any], idempotency_key: str = "") -> dict[str, Any]:
        return breaker_call(self.system, self._call, data)

    def _call(self, data: dict[str, Any]) -> dict[str, Any]:
        if settings.AUTOMATION_SIMULATED_DELAY_SECONDS > 0:
            time.sleep(settings.AUTOMATION_SIMULATED_DELAY_SECONDS)
        roll = random.random()
        if roll < settings.AUTOMATION_SIMULATED_PERMANENT_FAILURE_RATE:
            raise PermanentAdapterError(f"simulated {self.system} refused the request (HTTP 422)")
        if (
            roll
            < settings.AUTOMATION_SIMULATED_PERMANENT_FAILURE_RATE
            + settings.AUTOMATION_SIMULATED_TRANSIENT_FAILURE_RATE
        ):
            raise TransientAdapterError(f"simulated {self.system} answered HTTP 503")
        return self.answer(data)


class SimulatedCreditBureau(SimulatedSystem):
    """Scores from the national id: ids ending in 'X' fail, ids ending in 'R' are high risk."""

    system = "credit_bureau"

    def answer(self, data: dict[str, Any]) -> dict[str, Any]:
        national_id = str(data["national_id"]).upper()
        if national_id.endswith("X"):
            return {"passed": False, "score": 95, "bureau_reference": f"SIM-{national_id}"}
        score = 75 if national_id.endswith("R") else _stable_number(national_id, 35)
        return {"passed": True, "score": score, "bureau_reference": f"SIM-{national_id}"}


class SimulatedEmploymentVerifier(SimulatedSystem):
    """Verifies any employer except those named 'Unknown ...'."""

    system = "employment_verifier"

    def answer(self, data: dict[str, Any]) -> dict[str, Any]:
        employer = str(data["employer"])
        return {"verified": not employer.lower().startswith("unknown"), "employer": employer}
