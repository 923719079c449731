"""Event sinks: what else hears each catalogue event after the channel layer did.

The apps above this one that want events (webhooks) register a sink in their
AppConfig.ready(); the relay calls every sink, in registration order, with the events of
one pass in outbox order, after the live inbox heard them (`sinks_hear`). The outbox is at
least once, so a sink may be given the same event id twice and must drop the repeat itself.
A sink that raises is logged and skipped: it must make good what it missed with a catch-up
of its own (webhooks sweep recent events), so that one sink never holds back the others or
the live inbox.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Event:
    """One catalogue event as the outbox carries it (see apps.notifications.events)."""

    id: int
    type: str
    payload: dict[str, Any]
    instance_id: int | None


Sink = Callable[[list[Event]], None]

_sinks: dict[str, Sink] = {}


def sink_register(sink: Sink) -> None:
    """Add `sink`; registering the same function again replaces it rather than calling it twice."""
    _sinks[f"{sink.__module__}.{sink.__qualname__}"] = sink


def sinks() -> list[Sink]:
    return list(_sinks.values())
