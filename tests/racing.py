"""Running service calls at the same moment, each in its own thread and database connection.

For tests marked django_db(transaction=True): the racers' transactions really overlap on
the database, so a missing row lock shows up as two winners or a lost update.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection

RACE_TIMEOUT_SECONDS = 30


@dataclass
class Outcome:
    """What one racer got back: the service's return value, or the exception it raised."""

    value: Any = None
    error: BaseException | None = None

    @property
    def succeeded(self) -> bool:
        return self.error is None


def run_together(*actions: Callable[[], Any]) -> list[Outcome]:
    """Call every action at once, one thread each, and return their outcomes in order.

    Each thread opens its connection before the start line (a threading.Barrier) so the
    calls, not the connects, race; and closes it at the end, or PostgreSQL keeps it open.
    """
    start_line = threading.Barrier(len(actions))
    outcomes = [Outcome() for _ in actions]

    def race(outcome: Outcome, action: Callable[[], Any]) -> None:
        try:
            connection.ensure_connection()
            start_line.wait(timeout=RACE_TIMEOUT_SECONDS)
            outcome.value = action()
        except BaseException as error:  # noqa: BLE001 - the test inspects whatever the racer hit
            outcome.error = error
        finally:
            connection.close()

    threads = [
        threading.Thread(target=race, args=pair, daemon=True) for pair in zip(outcomes, actions, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=RACE_TIMEOUT_SECONDS)
    stuck = sum(thread.is_alive() for thread in threads)
    assert not stuck, (
        f"{stuck} racer(s) still running after {RACE_TIMEOUT_SECONDS}s: a lock is never released"
    )
    return outcomes


def winners_and_losers(outcomes: Sequence[Outcome]) -> tuple[list[Outcome], list[Outcome]]:
    return [o for o in outcomes if o.succeeded], [o for o in outcomes if not o.succeeded]


def errors_of(outcomes: Sequence[Outcome]) -> list[BaseException]:
    return [o.error for o in outcomes if o.error is not None]
