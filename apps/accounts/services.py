from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import ApiKey, User
from apps.accounts.roles import ALL_ROLES, Role
from apps.audit.services import audit_record

API_KEY_MARK = "ak_"
# Recording every use would write a row per request; once a minute says enough about whether a key is alive.
API_KEY_LAST_USED_RESOLUTION = timedelta(minutes=1)


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


def api_key_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_create(*, user: User, name: str, actor: User | None) -> tuple[ApiKey, str]:
    """A new key for `user`; returns the row and the key itself, which is shown once and never stored."""
    name = (name or "").strip()[:100] or "API key"
    prefix = f"{API_KEY_MARK}{secrets.token_hex(6)}"
    raw_key = f"{prefix}.{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        api_key = ApiKey.objects.create(user=user, name=name, prefix=prefix, hashed_key=api_key_hash(raw_key))
        audit_record(
            action="api_key.created",
            actor=actor,
            chain_key=f"user:{user.pk}",
            data={"user": user.get_username(), "prefix": prefix, "name": name},
        )
    return api_key, raw_key


def api_key_revoke(*, api_key: ApiKey, actor: User | None) -> ApiKey:
    """Stop a key from authenticating (idempotent); the row stays for the record."""
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at"])
            audit_record(
                action="api_key.revoked",
                actor=actor,
                chain_key=f"user:{locked.user_id}",
                data={"prefix": locked.prefix, "name": locked.name},
            )
    return locked


def api_key_note_use(*, api_key: ApiKey) -> None:
    """Keep `last_used_at` roughly current: a bookkeeping column, so no lock and no audit event."""
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > API_KEY_LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
