"""Process kinds by name and definition version.

New instances start on the newest version of their kind; a running instance keeps the
version it started on (its `definition_version`) until it finishes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from apps.core.errors import UnknownProcessKind

if TYPE_CHECKING:
    from apps.workflows.models import WorkflowInstance

_definitions: dict[tuple[str, int], type[WorkflowInstance]] = {}

D = TypeVar("D", bound="type[WorkflowInstance]")


def register(definition: D) -> D:
    key = (definition.process_name, definition.process_version)
    if not definition.process_name or definition.process_version < 1:
        raise ValueError(f"{definition.__name__} must declare process_name and process_version >= 1")
    if key in _definitions and _definitions[key] is not definition:
        raise ValueError(f"process {key} is registered twice")
    _definitions[key] = definition
    return definition


def definition_latest(kind: str) -> type[WorkflowInstance]:
    versions = [version for (name, version) in _definitions if name == kind]
    if not versions:
        raise UnknownProcessKind(
            f"Unknown process kind {kind!r}. Known kinds: {', '.join(process_kind_names())}."
        )
    return _definitions[(kind, max(versions))]


def definition_of(instance: WorkflowInstance) -> type[WorkflowInstance]:
    try:
        return _definitions[(instance.kind, instance.definition_version)]
    except KeyError:
        raise UnknownProcessKind(
            f"No definition {instance.kind!r} version {instance.definition_version} is registered."
        ) from None


def as_definition(instance: WorkflowInstance) -> WorkflowInstance:
    """The same row seen through its process kind's proxy class (its transitions and steps)."""
    instance.__class__ = definition_of(instance)
    return instance


def process_kind_names() -> list[str]:
    return sorted({name for (name, _version) in _definitions})


def process_kinds_latest() -> list[type[WorkflowInstance]]:
    return [definition_latest(name) for name in process_kind_names()]
