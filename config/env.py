"""The one module that reads the process environment.

Settings import `env` from here; nothing else in the project calls `os.environ`.
Every variable is documented in the README's configuration table.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()


# The variables whose value came from a key generated into var/ (see `manage.py check --deploy`).
GENERATED_KEYS: set[str] = set()


def _configured_or_generated(variable: str, file_name: str) -> str:
    """The variable's value, or on the embedded default a key generated once and kept in var/.

    A generated key is never written to the repository; production must set the variable.
    """
    configured = env.str(variable, default="")
    if configured:
        return configured
    GENERATED_KEYS.add(variable)
    key_file = VAR_DIR / file_name
    if not key_file.exists():
        VAR_DIR.mkdir(exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def secret_key() -> str:
    return _configured_or_generated("DJANGO_SECRET_KEY", "secret_key")


def audit_hash_key() -> str:
    """The key of the audit log's keyed hash chain. Keep it outside the database (and apart
    from DJANGO_SECRET_KEY, which may be rotated): whoever holds it can re-forge a chain."""
    return _configured_or_generated("AUDIT_HASH_KEY", "audit_hash_key")
