"""What the engine tells the apps above it, without knowing them.

The engine (apps.workflows) sits below the apps that react to it: human tasks open and
close tasks when an instance moves, automation schedules the steps of the state it enters.
Instead of importing them, `instance_fire` calls an explicit, ordered list of reactions,
which each app adds in its AppConfig.ready(), as Django's own middleware list is ordered:
the lowest `order` runs first. Each reaction runs inside the transition's transaction, on
the locked instance, after the engine has saved the instance, audited the transition and
written its outbox row; an exception in a reaction rolls the whole transition back.

The engine also asks one question it cannot answer alone: is this person a manager of
the process (they may cancel it)? Who manages what is the human-task app's knowledge
(queues and their managers), so that app registers the answer here too.

See docs/adr/engine-reactions-and-layers.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.workflows.models import WorkflowInstance
    from apps.workflows.transitions import TransitionContext


@dataclass(frozen=True)
class StateChange:
    """One transition that has just run on a locked, saved instance."""

    instance: WorkflowInstance
    transition: str
    from_state: str
    context: TransitionContext
    # What fired it (apps.workflows.transitions): "start" means the instance was created by
    # this very transaction, so nothing of it (a task, a step run) exists yet.
    trigger: str = ""

    @property
    def actor(self) -> User | None:
        return self.context.actor

    @property
    def entered_new_state(self) -> bool:
        return self.instance.state != self.from_state


Reaction = Callable[[StateChange], None]
ManagerTest = Callable[["WorkflowInstance", "User"], bool]

_reactions: dict[str, tuple[int, Reaction]] = {}
_manager_tests: dict[str, ManagerTest] = {}


def reaction_register(reaction: Reaction, *, order: int) -> None:
    """Add `reaction` to what every transition calls; registering the same function again
    (a second ready(), a test) replaces it rather than running it twice."""
    _reactions[f"{reaction.__module__}.{reaction.__qualname__}"] = (order, reaction)


def reactions() -> list[Reaction]:
    """The registered reactions, in the order they run."""
    return [reaction for _name, (_order, reaction) in sorted(_reactions.items(), key=lambda i: i[1][0])]


def manager_test_register(test: ManagerTest) -> None:
    _manager_tests[f"{test.__module__}.{test.__qualname__}"] = test


def is_process_manager(instance: WorkflowInstance, user: User) -> bool:
    """Whether any registered authority says `user` manages `instance`'s process."""
    return any(test(instance, user) for test in _manager_tests.values())
