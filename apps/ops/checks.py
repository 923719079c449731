"""System checks for what our own settings add: always (`manage.py check`, and before
runserver and migrate) and for deployments (`manage.py check --deploy`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.db import connection

from config.env import GENERATED_KEYS

WHY = {
    "DJANGO_SECRET_KEY": "sessions and signed values",
    "AUDIT_HASH_KEY": "the audit log's hash chains (a lost key leaves old events unverifiable)",
}


@register(Tags.security, deploy=True)
def keys_come_from_the_environment(app_configs: Any, **kwargs: Any) -> list[Error]:
    return [
        Error(
            f"{variable} is not set: a key generated into var/ on this machine signs {WHY[variable]}.",
            hint=f"Set {variable} in the environment to a long random value kept in your secret store.",
            id=f"ops.E00{number}",
        )
        for number, variable in enumerate(sorted(GENERATED_KEYS & WHY.keys()), start=1)
    ]


@register()
def relay_nudge_fits_the_database(app_configs: Any, **kwargs: Any) -> list[Error]:
    # A check rather than a refusal in settings.py: the test settings choose the database
    # after config.settings has been read. `start` asks it too, before it sets anything up.
    if settings.OUTBOX_RELAY_NUDGE != "notify" or connection.vendor == "postgresql":
        return []
    return [
        Error(
            "OUTBOX_RELAY_NUDGE=notify needs PostgreSQL: the relay process is woken by LISTEN/NOTIFY, "
            "and no process relays its own commits, so events would wait for beat's sweep "
            "(every OUTBOX_RELAY_SWEEP_SECONDS).",
            hint="With SQLite use OUTBOX_RELAY_NUDGE=inline or thread.",
            id="ops.E003",
        )
    ]
