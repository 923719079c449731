"""How a call to an external system fails; adapters raise these, breakers and the step service read them."""

from __future__ import annotations


class AdapterError(Exception):
    """The external system could not give the step its result."""


class TransientAdapterError(AdapterError):
    """Worth trying again later: the system was slow, unreachable, overloaded or broken for now."""


class PermanentAdapterError(AdapterError):
    """Trying again cannot help: the system refused the request or answered nonsense."""
