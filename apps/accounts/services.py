from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db import transaction

from apps.accounts.roles import ALL_ROLES, Role


def _permission(dotted: str) -> Permission:
    app_label, codename = dotted.split(".", 1)
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def role_ensure(*, role: Role) -> Group:
    """The role's group with exactly its global permissions (idempotent)."""
    with transaction.atomic():
        group, _ = Group.objects.get_or_create(name=role.name)
        group.permissions.set([_permission(dotted) for dotted in role.permissions])
    return group


def roles_ensure() -> dict[str, Group]:
    return {role.name: role_ensure(role=role) for role in ALL_ROLES}
