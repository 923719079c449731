"""Deployment checks (`manage.py check --deploy`) for what our own settings add."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Tags, register

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
