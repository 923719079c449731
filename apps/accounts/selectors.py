from __future__ import annotations

import hmac

from django.db.models import QuerySet

from apps.accounts.models import ApiKey, User
from apps.accounts.services import API_KEY_MARK, api_key_hash
from apps.core.compiled import STAND_IN_TEXT, rows_compiled


def api_key_user(*, raw_key: str) -> tuple[User, ApiKey] | None:
    """The active user and key behind `raw_key`, or None for an unknown, revoked or inactive one."""
    prefix, dot, _secret = raw_key.partition(".")
    if not dot or not prefix.startswith(API_KEY_MARK) or len(prefix) > 16:
        return None
    # Built once per process (apps.core.compiled): every API request asks it.
    found = rows_compiled("api key by prefix", _live_key_by_prefix, {STAND_IN_TEXT: prefix})
    api_key = found[0] if found else None
    if api_key is None or not hmac.compare_digest(api_key.hashed_key, api_key_hash(raw_key)):
        return None
    if not api_key.user.is_active:
        return None
    return api_key.user, api_key


def _live_key_by_prefix() -> QuerySet[ApiKey]:
    return ApiKey.objects.select_related("user").filter(prefix=STAND_IN_TEXT, revoked_at__isnull=True)[:1]


def user_active_by_username(*, username: str) -> User | None:
    return User.objects.filter(username=username, is_active=True).first()
