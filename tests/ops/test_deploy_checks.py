"""`manage.py check --deploy` refuses keys generated into var/: production must set them."""

from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings

CHECK = [sys.executable, "manage.py", "check", "--deploy"]


def _check(**env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SECRET_KEY", "AUDIT_HASH_KEY")}
    base["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run(CHECK, cwd=settings.BASE_DIR, env={**base, **env}, capture_output=True, text=True)


def test_generated_keys_fail_the_deployment_check():
    result = _check()

    assert result.returncode == 1
    assert "ops.E001" in result.stderr and "AUDIT_HASH_KEY is not set" in result.stderr
    assert "ops.E002" in result.stderr and "DJANGO_SECRET_KEY is not set" in result.stderr


def test_keys_from_the_environment_pass_it():
    result = _check(DJANGO_SECRET_KEY="s" * 60 + "K9!", AUDIT_HASH_KEY="a" * 50)

    assert "ops.E00" not in result.stderr


def test_the_production_environment_passes_with_no_issue_at_all():
    import secrets

    result = _check(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(60),
        AUDIT_HASH_KEY=secrets.token_urlsafe(40),
        DJANGO_ALLOWED_HOSTS="inbox.example.com",
        DJANGO_BEHIND_TLS_PROXY="true",
        DJANGO_SECURE_SSL_REDIRECT="true",
        DJANGO_SECURE_HSTS_SECONDS="31536000",
        DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS="true",
        DJANGO_SECURE_HSTS_PRELOAD="true",
    )

    assert result.returncode == 0, result.stderr
    # Not even a warning: every security.W* of Django's deployment checklist is answered.
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


def test_a_relay_woken_by_the_database_is_refused_on_sqlite(tmp_path):
    result = _check(OUTBOX_RELAY_NUDGE="notify", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")

    assert result.returncode == 1
    assert "ops.E003" in result.stderr and "OUTBOX_RELAY_NUDGE=notify needs PostgreSQL" in result.stderr
