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


def secret_key() -> str:
    """`DJANGO_SECRET_KEY`, or on the embedded default a key generated once and kept in var/.

    A generated key is never written to the repository; production must set the variable.
    """
    configured = env.str("DJANGO_SECRET_KEY", default="")
    if configured:
        return configured
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        VAR_DIR.mkdir(exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()
