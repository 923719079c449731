from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable, Mapping
from datetime import timedelta

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import ApiKey, User
from apps.accounts.roles import ALL_ROLES, Role
from apps.audit.services import audit_record

logger = logging.getLogger(__name__)

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


def identity_roles(
    *, claimed_groups: Iterable[str], role_map: Mapping[str, str]
) -> tuple[set[str], set[str]]:
    """(granted, managed) role names for an identity provider's group claim.

    `managed` are the roles the map can grant: only those are ever added or removed at sign-in,
    so roles given by hand (or by another source) stay. A map entry naming no known role is
    ignored, so a typo in OIDC_ROLE_MAP cannot create a new group or grant anything.
    """
    known = {role.name for role in ALL_ROLES}
    unknown = sorted({name for name in role_map.values() if name not in known})
    if unknown:
        logger.warning("OIDC_ROLE_MAP names roles that do not exist, ignored: %s", ", ".join(unknown))
    managed = {name for name in role_map.values() if name in known}
    granted = {role_map[group] for group in claimed_groups if role_map.get(group) in managed}
    return granted, managed


def user_sync_from_identity(
    *,
    username: str,
    email: str,
    first_name: str,
    last_name: str,
    claimed_groups: Iterable[str],
    role_map: Mapping[str, str],
) -> User:
    """Create or update the user an identity provider vouched for, and set their mapped roles.

    A new user gets no usable password: they sign in through the provider only. A deactivated
    user is returned unchanged (the sign-in view then refuses them). Role changes are audited.
    """
    granted, managed = identity_roles(claimed_groups=claimed_groups, role_map=role_map)
    with transaction.atomic():
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "email": email,
                "first_name": first_name,
                "last_name": last_name,
                "password": make_password(None),
            },
        )
        user = User.objects.select_for_update().get(pk=user.pk)
        if not user.is_active:
            return user
        profile = {"email": email, "first_name": first_name, "last_name": last_name}
        changed = [field for field, value in profile.items() if getattr(user, field) != value]
        for field in changed:
            setattr(user, field, profile[field])
        if changed:
            user.save(update_fields=changed)

        held = set(user.groups.filter(name__in=managed).values_list("name", flat=True))
        added, removed = sorted(granted - held), sorted(held - granted)
        if removed:
            user.groups.remove(*Group.objects.filter(name__in=removed))
        if added:
            roles = {role.name: role for role in ALL_ROLES}
            user.groups.add(*(role_ensure(role=roles[name]) for name in added))
        if added or removed:
            audit_record(
                action="auth.roles_synced",
                actor=user,
                chain_key=f"user:{user.pk}",
                data={"user": username, "added": added, "removed": removed, "source": "oidc"},
            )
    return user


def user_set_email_notifications(*, user: User, enabled: bool) -> User:
    """Whether `user` also gets reminders, escalations and assignments by mail when offline."""
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(email_notifications=enabled)
        audit_record(
            action="user.preferences_changed",
            actor=user,
            chain_key=f"user:{user.pk}",
            data={"email_notifications": enabled},
        )
    user.email_notifications = enabled
    return user
