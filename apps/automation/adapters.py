"""Adapters to the external systems automated steps call, behind one small interface.

An adapter takes the instance's business data and returns the step's result (a JSON
object handed to the step's result transition). Which class serves which system is
configuration: settings.AUTOMATION_ADAPTERS maps the name a step declares to a class.
The embedded default ships simulated systems that answer deterministically from the data,
so the demo and the tests see both outcomes.
"""

from __future__ import annotations

import hashlib
from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class StepAdapter(Protocol):
    def run(self, *, data: dict[str, Any]) -> dict[str, Any]: ...


class AdapterError(Exception):
    """The external system could not answer (retried by the caller where transient)."""


def _stable_number(text: str, modulo: int) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % modulo


class SimulatedCreditBureau:
    """Scores from the national id: ids ending in 'X' fail, ids ending in 'R' are high risk."""

    def run(self, *, data: dict[str, Any]) -> dict[str, Any]:
        national_id = str(data["national_id"]).upper()
        if national_id.endswith("X"):
            return {"passed": False, "score": 95, "bureau_reference": f"SIM-{national_id}"}
        score = 75 if national_id.endswith("R") else _stable_number(national_id, 35)
        return {"passed": True, "score": score, "bureau_reference": f"SIM-{national_id}"}


class SimulatedEmploymentVerifier:
    """Verifies any employer except those named 'Unknown ...'."""

    def run(self, *, data: dict[str, Any]) -> dict[str, Any]:
        employer = str(data["employer"])
        return {"verified": not employer.lower().startswith("unknown"), "employer": employer}


def adapter_for(name: str) -> StepAdapter:
    try:
        dotted = settings.AUTOMATION_ADAPTERS[name]
    except KeyError:
        raise AdapterError(f"No adapter is configured for {name!r}.") from None
    return import_string(dotted)()
