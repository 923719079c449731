"""The fault suite's stage: a PostgreSQL cluster and a redis-server of its own on spare ports,
Daphne web processes and Celery workers on them, a steady load of approvals from several
clients, and the figures each fault prints.

A new kind of client (websocket, webhook receiver) joins as one function: give `Load` a
`client(stage, n, stats)` callable that loops until `stats.stopping` and counts what it saw
with `stats.answered(...)` / `stats.failed(kind)`; its checks afterwards read the stage's
database with `stage.sql(...)`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from config.env import BASE_DIR, env
from tests.celery_workers import RedisServer, Workers, free_port, point_celery_at, wait_for
from tests.web_servers import WebServers

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SEED = """
from apps.accounts.services import api_key_create, roles_ensure
from apps.humantasks.services import queues_ensure_standard
from tests.factories import UserFactory
roles_ensure(); queues_ensure_standard(actor=None)
for username, role in (("requester", "Requesters"), ("lead", "Team leads"), ("erp", "Integrations")):
    user = UserFactory(username=username, roles=[role])
    print("KEY", username, api_key_create(user=user, name="load", actor=None)[1])
"""


@dataclass
class PostgresCluster:
    """initdb into a temporary folder, owned by the postgres account (initdb refuses root)."""

    directory: Path
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/faults"

    def _as_postgres(self, *command: str) -> None:
        runner = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
        subprocess.run([*runner, *command], check=True, capture_output=True, timeout=120)

    def create(self) -> None:
        if not (PG_BIN / "initdb").exists():
            pytest.skip("PostgreSQL 15's server binaries are not installed")
        self.directory.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._as_postgres(
            str(PG_BIN / "initdb"), "-D", str(self.directory), "-U", "postgres", "--auth=trust", "-E", "UTF8"
        )
        self.start()
        self._as_postgres(
            str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "faults"
        )

    def _ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._as_postgres(
            str(PG_BIN / "pg_ctl"), action, "-D", str(self.directory), "-w", "-o", options, "-l",
            str(self.directory / "log"), *extra,
        )  # fmt: skip

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        self._ctl("restart", "-m", "fast")

    def stop(self) -> None:
        self._ctl("stop", "-m", "immediate")


@dataclass
class Stage:
    postgres: PostgresCluster
    redis: RedisServer
    env: dict[str, str]
    keys: dict[str, str]
    web: WebServers
    workers: Workers

    def sql(self, query: str, *params: Any) -> list[tuple]:
        with psycopg.connect(
            self.postgres.url.replace("postgres://", "postgresql://"), autocommit=True
        ) as db:
            return db.execute(query, params).fetchall()


@pytest.fixture
def stage() -> Iterator[Stage]:
    base = Path(tempfile.mkdtemp(prefix="faults-"))
    os.chmod(base, 0o755)
    postgres = PostgresCluster(base / "pg")
    postgres.create()
    redis = RedisServer(free_port())
    redis.start()
    stage_env = {
        **env.ENVIRON,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "TEST_DATABASE_URL": postgres.url,
        "REDIS_URL": redis.url,
        "CELERY_BROKER_URL": redis.url,
        "RATE_LIMIT_REDIS_URL": redis.url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_VISIBILITY_TIMEOUT": "5",
        "CELERY_UNACKED_RESTORE_SECONDS": "1",
        "OUTBOX_RELAY_SWEEP_SECONDS": "0.5",
        "SLA_TIMER_SECONDS": "3600",
        "API_THROTTLE_CLIENT": "100000/minute",
        "API_THROTTLE_USER": "100000/minute",
        "AUTOMATION_BACKOFF_SECONDS": "0.4",
        "AUTOMATION_BREAKER_FAILURES": "1000",
        "PYTHONUNBUFFERED": "1",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run(
        [*manage, "migrate", "--noinput"], cwd=BASE_DIR, env=stage_env, check=True, capture_output=True
    )
    seeded = subprocess.run(
        [*manage, "shell", "-c", SEED],
        cwd=BASE_DIR,
        env=stage_env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    keys = dict(line.split()[1:] for line in seeded.splitlines() if line.startswith("KEY "))
    point_celery_at(redis.url)
    web = WebServers(stage_env, base)
    workers = Workers(redis.url, stage_env, base)
    try:
        yield Stage(postgres, redis, stage_env, keys, web, workers)
    finally:
        point_celery_at(None)
        web.stop_all()
        workers.stop_all()
        redis.stop()
        postgres.stop()
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class Stats:
    """What the clients saw, shared by their threads."""

    stopping: threading.Event = field(default_factory=threading.Event)
    answers: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    acknowledged: list[tuple[str, str]] = field(
        default_factory=list
    )  # (what, id) the clients were told is done
    last_error_at: float = 0.0
    first_ok_after: dict[float, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answered(self, status: int) -> None:
        with self.lock:
            self.answers[status] += 1
            if status >= 500:
                self.errors[f"HTTP {status}"] += 1
                self.last_error_at = time.monotonic()

    def failed(self, kind: str) -> None:
        with self.lock:
            self.errors[kind] += 1
            self.last_error_at = time.monotonic()

    def done(self, what: str, ident: str) -> None:
        with self.lock:
            self.acknowledged.append((what, ident))


def approvals_client(stage: Stage, n: int, stats: Stats, url_of: Callable[[int], str]) -> None:
    """One requester-and-lead pair: start an order, find its task, claim and approve it; each
    step retried (POSTs with the same Idempotency-Key) until it gets an answer."""
    requester = {"Authorization": f"Api-Key {stage.keys['requester']}"}
    lead = {"Authorization": f"Api-Key {stage.keys['lead']}"}
    round_ = 0
    with httpx.Client(timeout=10) as http:

        def call(method: str, path: str, headers: dict, **kwargs: Any) -> httpx.Response | None:
            attempt = 0
            while not stats.stopping.is_set() or attempt == 0 or kwargs.get("json") is not None:
                attempt += 1
                try:
                    response = http.request(method, url_of(n + attempt) + path, headers=headers, **kwargs)
                except httpx.TransportError as exc:
                    stats.failed(type(exc).__name__)
                else:
                    stats.answered(response.status_code)
                    if response.status_code < 500:
                        return response
                if attempt > 200:
                    return None
                time.sleep(0.2)
            return None

        while not stats.stopping.is_set():
            round_ += 1
            key = f"LOAD-{n}-{round_}-{uuid.uuid4().hex[:6]}"
            body = {
                "kind": "purchase_order",
                "business_key": key,
                "data": {"amount": 100, "currency": "EUR", "supplier": "Acme", "description": "Load"},
            }
            started = call("POST", "/api/v1/instances/", {**requester, "Idempotency-Key": key}, json=body)
            if started is None or started.status_code != 201:
                continue
            instance = str(started.json()["id"])
            stats.done("started", instance)
            listed = call("GET", f"/api/v1/tasks/?instance={instance}", lead)
            if listed is None or not listed.json().get("results"):
                continue
            task = listed.json()["results"][0]["id"]
            claim = call(
                "POST", f"/api/v1/tasks/{task}/claim/", {**lead, "Idempotency-Key": f"c-{key}"}, json={}
            )
            if claim is None or claim.status_code != 200:
                continue
            decision = {"outcome": "approve", "comment": "ok"}
            headers = {**lead, "Idempotency-Key": f"d-{key}"}
            completed = call("POST", f"/api/v1/tasks/{task}/complete/", headers, json=decision)
            if completed is not None and completed.status_code == 200:
                stats.done("approved", instance)


@dataclass
class Load:
    """Clients running in threads until stop(); each a function (stage, n, stats)."""

    stage: Stage
    clients: list[Callable[[Stage, int, Stats], None]]
    stats: Stats = field(default_factory=Stats)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        for n, client in enumerate(self.clients):
            thread = threading.Thread(target=client, args=(self.stage, n, self.stats), daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def stop(self) -> Stats:
        self.stats.stopping.set()
        for thread in self.threads:
            thread.join(timeout=120)
        return self.stats


def ledger(stage: Stage, stats: Stats) -> dict[str, Any]:
    """What the database holds against what clients were told: rows lost, duplicate transitions,
    half-written instances (no start event, or waiting for a lead without an open task)."""
    started = {ident for what, ident in stats.acknowledged if what == "started"}
    approved = {ident for what, ident in stats.acknowledged if what == "approved"}
    rows = dict(stage.sql("SELECT id::text, state FROM workflows_workflowinstance"))
    lost = len(started - set(rows)) + len({i for i in approved if rows.get(i) != "approved"})
    duplicates = stage.sql(
        "SELECT instance_id, data->>'transition', count(*) FROM audit_auditevent "
        "WHERE action = 'instance.transitioned' GROUP BY 1, 2 HAVING count(*) > 1"
    )
    half_written = stage.sql(
        "SELECT i.id FROM workflows_workflowinstance i WHERE NOT EXISTS (SELECT 1 FROM audit_auditevent e "
        "WHERE e.instance_id = i.id AND e.action = 'instance.started') OR (i.state = 'team_lead_review' AND "
        "NOT EXISTS (SELECT 1 FROM humantasks_humantask t WHERE t.instance_id = i.id "
        "AND t.state IN ('open', 'claimed')))"
    )
    return {
        "instances": len(rows),
        "acknowledged starts": len(started),
        "acknowledged approvals": len(approved),
        "rows lost": lost,
        "duplicate transitions": len(duplicates),
        "half-written": len(half_written),
    }


def report(fault: str, stats: Stats, figures: dict[str, Any], recovery_seconds: float | None) -> None:
    answered = sum(stats.answers.values())
    print(
        f"\nFAULT {fault}: requests answered {answered} {dict(sorted(stats.answers.items()))}; "
        f"errors by kind {dict(stats.errors)}; "
        + "; ".join(f"{name} {value}" for name, value in figures.items())
        + (f"; recovery {recovery_seconds:.1f}s" if recovery_seconds is not None else "")
    )


def recovery_after(
    stats: Stats, fault_at: float, probe: Callable[[], bool], *, timeout: float = 120
) -> float:
    """Seconds from the fault until `probe` holds again."""
    wait_for(probe, timeout=timeout, interval=0.1, what="recovery")
    return time.monotonic() - fault_at


def api_answers(url: str, key: str) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            return (
                httpx.get(
                    f"{url}/api/v1/queues/", headers={"Authorization": f"Api-Key {key}"}, timeout=2
                ).status_code
                == 200
            )
        except httpx.TransportError:
            return False

    return probe
