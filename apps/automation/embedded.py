"""The worker and beat of the embedded default (`python3 manage.py start`).

One child process: a Celery worker with beat inside it, on the same settings as the
command that starts it (on the embedded default its broker is a folder in var/, so no Redis
is needed). Production runs workers and beat as processes of their own (README).
"""

from __future__ import annotations

import atexit
import subprocess
import sys

from django.conf import settings

from config.env import env


def start_embedded_worker(*, log_level: str = "WARNING", relay: bool = True) -> subprocess.Popen:
    """Start the worker (solo pool, beat inside) as a child of this process; it is stopped
    when this process exits. Returns the child, for callers that want to watch it.

    `relay=False`: the worker leaves the outbox to this process (which must then relay it,
    apps.notifications.web_relay), as the in-memory channel layer needs."""
    command = [
        sys.executable, "-m", "celery", "-A", "config.celery_app", "worker",
        "--beat", "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME,
        "--pool", "solo", "--hostname", "embedded@%h", "--loglevel", log_level,
        "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    environment = None if relay else {**env.ENVIRON, "OUTBOX_RELAY_HERE": "0"}
    process = subprocess.Popen(command, cwd=settings.BASE_DIR, env=environment)
    atexit.register(_stop, process)
    return process


def start_embedded_relay() -> subprocess.Popen:
    """Start the outbox relay process (`manage.py outbox_relay`) as a child of this process, for
    `start` on PostgreSQL with OUTBOX_RELAY_NUDGE=notify, where no process relays its own
    commits; it is stopped when this process exits."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "outbox_relay", "--verbosity", "0"], cwd=settings.BASE_DIR
    )
    atexit.register(_stop, process)
    return process


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()  # warm shutdown: the job in hand finishes first
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
