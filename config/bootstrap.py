"""Self-installation for `python3 manage.py ...` on a machine with nothing but Python 3.11.

When manage.py runs outside any virtual environment, this creates `.venv/` beside it,
installs the pinned requirements (config/requirements.lock) and re-executes the command
with the virtual environment's interpreter. It re-installs when the lock file changes.
Inside another virtual environment (a container, a developer's own) it does nothing.

Standard library only: it runs before any dependency is installed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VENV_DIR = BASE_DIR / ".venv"
LOCK_FILE = BASE_DIR / "config" / "requirements.lock"
STAMP_FILE = VENV_DIR / ".requirements.sha256"

# Commands that only make sense on the embedded default get its safe-for-localhost settings.
EMBEDDED_COMMANDS = {"start"}


def _venv_python() -> Path:
    return VENV_DIR / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _lock_digest() -> str:
    return hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest()


def _install_requirements() -> None:
    print(f"Installing pinned requirements into {VENV_DIR} (first run only)...", file=sys.stderr, flush=True)
    python = str(_venv_python())
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "-r", str(LOCK_FILE)], check=True)
    STAMP_FILE.write_text(_lock_digest())


def ensure_virtualenv(argv: list[str]) -> None:
    running_in_project_venv = Path(sys.prefix).resolve() == VENV_DIR.resolve()
    running_in_other_venv = sys.prefix != sys.base_prefix and not running_in_project_venv
    if running_in_other_venv:
        return
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"This project needs Python 3.11; this is {sys.version.split()[0]}.")
    if not _venv_python().exists():
        print(f"Creating a virtual environment in {VENV_DIR}...", file=sys.stderr, flush=True)
        venv.create(VENV_DIR, with_pip=True)
    stale = not STAMP_FILE.exists() or STAMP_FILE.read_text().strip() != _lock_digest()
    if stale:
        _install_requirements()
    if not running_in_project_venv:
        python = str(_venv_python())
        os.execv(python, [python, *argv])


def apply_embedded_defaults(argv: list[str]) -> None:
    """The embedded default serves plain http on loopback: cookies without the Secure flag.

    Never DEBUG: its error pages show the settings to whoever asks.
    """
    if len(argv) > 1 and argv[1] in EMBEDDED_COMMANDS:
        os.environ.setdefault("DJANGO_SECURE_COOKIES", "false")
