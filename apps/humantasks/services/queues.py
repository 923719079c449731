"""Writes to queues: creating them with their grants, and the standard queue of every role."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth.models import Group
from django.db import transaction
from guardian.shortcuts import assign_perm

from apps.accounts.roles import MANAGERS, QUEUE_ROLES
from apps.accounts.services import role_ensure
from apps.audit.services import audit_record
from apps.humantasks.models import Queue

if TYPE_CHECKING:
    from apps.accounts.models import User


def queue_create(
    *, slug: str, name: str, role: Group, managers: Group, actor: User | None, description: str = ""
) -> Queue:
    """A queue whose role works it and whose managers reassign its tasks."""
    with transaction.atomic():
        queue = Queue.objects.create(
            slug=slug, name=name, role=role, managers=managers, description=description
        )
        assign_perm("humantasks.work_on_queue", role, queue)
        assign_perm("humantasks.manage_queue", managers, queue)
        audit_record(
            action="queue.created",
            actor=actor,
            chain_key=f"queue:{queue.slug}",
            data={"queue": slug, "role": role.name, "managers": managers.name},
        )
    return queue


def queues_ensure_standard(*, actor: User | None) -> dict[str, Queue]:
    """The queue of every role that has one, managed by the Managers role (idempotent)."""
    managers = role_ensure(role=MANAGERS)
    queues = {}
    for role in QUEUE_ROLES:
        group = role_ensure(role=role)
        queue = Queue.objects.filter(slug=role.queue).first()
        if queue is None:
            queue = queue_create(
                slug=role.queue,
                name=role.name,
                role=group,
                managers=managers,
                actor=actor,
                description=role.description,
            )
        queues[role.queue] = queue
    return queues
