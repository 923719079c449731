"""What every benchmark part shares: its own database, Django set up on it, the company the
measurements act in (roles, queues, people), percentiles and the JSON line a part reports.

Each part runs as its own process (`python bench/<part>.py ...`) started by bench/run.py, so
one part's caches, connections and memory never flatter the next one's figures.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/approval_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# Jobs the benchmark publishes go to a queue of its own, never to a deployment's.
BENCH_QUEUE = "approval-bench"
PEOPLE = 16  # team leads (one per HTTP client) and requesters


# Where the outbox is relayed: "process" (the production shape, docker/compose.yaml: one
# `manage.py outbox_relay` woken by the database, OUTBOX_RELAY_NUDGE=notify) or "thread" (a relay
# thread in every process that commits). bench/run.py --relay sets it for every part.
RELAY = os.environ.get("BENCH_OUTBOX_RELAY", "process")


def bench_environment(database_url: str, redis_url: str) -> dict[str, str]:
    """The environment every part (and every server the HTTP parts start) runs with."""
    return {
        "OUTBOX_RELAY_NUDGE": "notify" if RELAY == "process" else "thread",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_LOG_LEVEL": "WARNING",
        "CELERY_TASK_DEFAULT_QUEUE": BENCH_QUEUE,
        # The load generator is one client per lead; production limits would measure the
        # throttle, not the application. The throttle still runs (its Redis round trips count).
        "API_THROTTLE_CLIENT": "1000000/minute",
        "API_THROTTLE_USER": "1000000/minute",
        "DJANGO_SECURE_COOKIES": "0",
    }


def django_setup(database_url: str, redis_url: str) -> None:
    os.environ.update(bench_environment(database_url, redis_url))
    import django

    django.setup()


@contextmanager
def relay_process(database_url: str, redis_url: str) -> Iterator[None]:
    """With the relay in a process of its own, run one beside the part (on the same machine, so
    its CPU counts against the figures as the relay thread's did) until the part is done;
    otherwise nothing to start."""
    if RELAY != "process":
        yield
        return
    import psycopg

    relay = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "outbox_relay"],
        cwd=ROOT,
        env={**os.environ, **bench_environment(database_url, redis_url)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        with psycopg.connect(database_url, autocommit=True) as probe:
            # Listening when its connection shows in pg_stat_activity (relay_process.LISTENER_NAME).
            while not probe.execute(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = 'outbox relay listener'"
                " AND datname = current_database()"
            ).fetchone():
                if relay.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the outbox relay process did not start")
                time.sleep(0.1)
        yield
        # What the part left is sent before the next part (or tree) starts.
        outbox_drained(database_url, timeout=120)
    finally:
        if relay.poll() is None:
            os.killpg(relay.pid, signal.SIGTERM)
        try:
            relay.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(relay.pid, signal.SIGKILL)


def outbox_drained(database_url: str, timeout: float = 300) -> None:
    """Wait until the relay (a process's thread or the relay process) has sent every due row."""
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as probe:
        while probe.execute(
            "SELECT 1 FROM notifications_outboxmessage"
            " WHERE dispatched_at IS NULL AND available_at <= now() LIMIT 1"
        ).fetchone():
            if time.monotonic() > deadline:
                raise SystemExit(f"the outbox relay did not catch up within {timeout:g} s")
            time.sleep(0.2)


def outbox_backlog() -> int:
    """Outbox rows due and not yet sent: what the relay has not caught up with."""
    from django.utils import timezone

    from apps.notifications.models import OutboxMessage

    return OutboxMessage.objects.filter(dispatched_at__isnull=True, available_at__lte=timezone.now()).count()


def free_port() -> int:
    """A port nothing on loopback listens on now, for a server the bench starts."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_create(url: str, *, drop: bool) -> bool:
    """Create the database `url` names; True when it was made now (it needs its data)."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if drop:
            # The audit trigger refuses TRUNCATE even here: a fresh database is the way to start over.
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        conn.execute(f'CREATE DATABASE "{name}"')
        return True


def company_ensure() -> dict[str, list[Any]]:
    """Migrated schema, the standard roles and queues, PEOPLE requesters and team leads."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from apps.accounts.models import User
    from apps.accounts.services import roles_ensure
    from apps.humantasks.services import queues_ensure_standard

    roles = roles_ensure()
    queues_ensure_standard(actor=None)
    people: dict[str, list[Any]] = {"requesters": [], "leads": [], "risk": []}
    for key, role, prefix in [
        ("requesters", "Requesters", "bench-requester"),
        ("leads", "Team leads", "bench-lead"),
        ("risk", "Risk officers", "bench-risk"),
    ]:
        for i in range(PEOPLE):
            user, made = User.objects.get_or_create(username=f"{prefix}{i}")
            if made:
                user.groups.add(roles[role])
            people[key].append(user)
    integration, made = User.objects.get_or_create(username="bench-erp")
    if made:
        integration.groups.add(roles["Integrations"])
    people["integration"] = [integration]
    return people


def history_ensure(count: int, people: dict[str, list[Any]], *, seed: int = 7) -> int:
    """Past purchase orders until the company holds `count` of them (business keys HIST-n),
    each an approved instance with its completed team-lead task, decided by one of the bench's
    team leads, written with COPY from a seeded generator (about a minute per million). A
    company that has run for a while has these; decisions must not slow down as they pile up.
    Returns how many the company holds. (Their audit events are left out: the audit chain is
    found per instance, by an index, whatever its size.)"""
    import json
    import random
    import uuid
    from datetime import UTC, datetime, timedelta

    from django.db import connection

    from apps.humantasks.models import Queue
    from apps.workflows.models import WorkflowInstance

    held = WorkflowInstance.objects.filter(business_key__startswith="HIST-").count()
    if held >= count:
        return held
    queue = Queue.objects.get(slug="team-leads")
    requesters = [u.pk for u in people["requesters"]]
    leads = [u.pk for u in people["leads"]]
    rng = random.Random(seed + held)
    began = datetime(2026, 1, 1, tzinfo=UTC)
    connection.ensure_connection()
    raw = connection.connection  # psycopg 3: COPY ... FROM STDIN with write_row
    with raw.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM workflows_workflowinstance")
        first = cursor.fetchone()[0] + 1
        with cursor.copy(
            "COPY workflows_workflowinstance (id, kind, definition_version, business_key, state, data,"
            " requester_id, started_by_id, created_at, updated_at, version) FROM STDIN"
        ) as copy:
            for n in range(held, count):
                at = began + timedelta(seconds=n * 20)
                data = json.dumps(order_data(n))
                requester = requesters[n % len(requesters)]
                copy.write_row(
                    (
                        first + n - held,
                        "purchase_order",
                        1,
                        f"HIST-{n}",
                        "approved",
                        data,
                        requester,
                        requester,
                        at,
                        at,
                        3,
                    )
                )
        with cursor.copy(
            "COPY humantasks_humantask (instance_id, process_kind, queue_id, step, activation, title, state,"
            " assignee_id, decided_by_id, claimed_at, closed_at, priority, due_at, is_confidential, outcome,"
            " decision_data, comment, created_at, updated_at, version) FROM STDIN"
        ) as copy:
            for n in range(held, count):
                at = began + timedelta(seconds=n * 20)
                lead = leads[rng.randrange(len(leads))]
                decided = at + timedelta(minutes=rng.randrange(1, 600))
                copy.write_row(
                    (
                        first + n - held,
                        "purchase_order",
                        queue.pk,
                        "team_lead_approval",
                        uuid.UUID(int=rng.getrandbits(128)),
                        f"Team lead approval: purchase order HIST-{n}, 1200 EUR from Acme Tools",
                        "completed",
                        lead,
                        lead,
                        decided,
                        decided,
                        50,
                        at + timedelta(days=2),
                        False,
                        "approve",
                        "{}",
                        "",
                        at,
                        decided,
                        3,
                    )
                )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('workflows_workflowinstance', 'id'),"
            " (SELECT max(id) FROM workflows_workflowinstance))"
        )
    raw.commit()
    # VACUUM as well as ANALYZE: the visibility map and statistics of a table autovacuum has visited.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE humantasks_humantask")
        cursor.execute("VACUUM ANALYZE workflows_workflowinstance")
    return count


def order_data(i: int) -> dict[str, Any]:
    """The smallest purchase order: 1,200 EUR needs a team lead and nobody else."""
    return {"amount": 1200, "currency": "EUR", "supplier": "Acme Tools", "description": f"Drills {i}"}


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    return {
        "p50_ms": 1000 * statistics.median(seconds) if seconds else float("nan"),
        "p95_ms": 1000 * percentile(seconds, 95),
        "p99_ms": 1000 * percentile(seconds, 99),
    }


def emit(result: dict[str, Any]) -> None:
    """A part's answer to bench/run.py: one JSON line on stdout, prefixed so no log line passes for it."""
    print("BENCH-RESULT " + json.dumps(result), flush=True)


def read_result(output: str) -> dict[str, Any]:
    for line in output.splitlines():
        if line.startswith("BENCH-RESULT "):
            return json.loads(line[len("BENCH-RESULT ") :])
    raise RuntimeError("the part printed no BENCH-RESULT line:\n" + output[-4000:])
