"""Real Celery workers for tests: a redis-server of the test's own on a spare port, worker
(and beat) subprocesses on the test database, and the test process publishing to that Redis.

Tests using these need django_db(transaction=True): the workers are other processes and
see only what the test has committed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from kombu import pools

from config.celery_app import app as celery_app
from config.env import BASE_DIR, env

CELERY = str(Path(sys.executable).with_name("celery"))


# Below the kernel's ephemeral range (32768-60999 here), so no client socket or bind(0) is
# handed one of these; each pytest-xdist worker has a block of its own, so two workers never
# pick the same port for servers they start moments apart.
_PORT_BLOCK, _PORT_BASE = 500, 20000
_ports_given: set[int] = set()


def free_port() -> int:
    """A port no other test process will choose, free when asked (its server binds it soon after)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]
    first = _PORT_BASE + (int(worker[2:]) % 24) * _PORT_BLOCK
    block = range(first, first + _PORT_BLOCK)
    if _ports_given.issuperset(block):
        _ports_given.clear()  # all given once: the servers of earlier tests are gone
    for port in block:
        if port in _ports_given:
            continue
        _ports_given.add(port)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use, or still in TIME_WAIT
        return port
    raise RuntimeError(f"no free port left in {first}-{first + _PORT_BLOCK - 1}")


def wait_for(condition: Callable[[], Any], *, timeout: float, interval: float = 0.1, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


@dataclass
class RedisServer:
    """A redis-server of the test's own; stop() and start() again on the same port."""

    port: int
    process: subprocess.Popen | None = None
    # With a folder, every write goes to an append-only file there first, as the production
    # compose file keeps the broker's queue: a restart loses nothing. Without one, a restart
    # comes back empty.
    directory: Path | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            pytest.skip("redis-server is not installed")
        persistence = ["--appendonly", "no"]
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            persistence = ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.directory)]
        self.process = subprocess.Popen(
            [executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *persistence],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        wait_for(lambda: _pings(client), timeout=10, what=f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def _spawn(command: list[str], worker_env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as sink:
        return subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=worker_env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@dataclass
class Worker:
    """One `celery -A config.celery_app worker` process group (its pool children, its beat).

    A supervised worker that exits on its own is started again, as the production compose
    file's `restart: unless-stopped` does; `restarts` counts how often, and its log keeps why.
    """

    name: str
    process: subprocess.Popen
    log: Path
    command: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    supervised: bool = False
    restarts: int = 0
    stopped: bool = False

    def kill(self) -> None:
        """SIGKILL the whole group at once: no warm shutdown, no acknowledgement (and no restart)."""
        self.stopped = True
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def restart_if_exited(self) -> None:
        if self.supervised and not self.stopped and self.process.poll() is not None:
            self.restarts += 1
            self.process = _spawn(self.command, self.env, self.log)

    def unrecoverable_errors(self) -> list[str]:
        """The reasons Celery gave each time this worker stopped itself."""
        return [line for line in self.output().splitlines() if "Unrecoverable error" in line]

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Workers:
    """Starts workers against the test database and the test's Redis, and stops them all."""

    broker_url: str
    base_env: dict[str, str]
    directory: Path
    started: list[Worker] = field(default_factory=list)
    _supervisor: threading.Thread | None = None
    _closing: threading.Event = field(default_factory=threading.Event)

    def _supervise(self) -> None:
        while not self._closing.wait(0.5):
            for worker in list(self.started):
                worker.restart_if_exited()

    def start(
        self,
        name: str = "w1",
        *,
        beat: bool = True,
        concurrency: int = 2,
        supervised: bool = False,
        **overrides: Any,
    ) -> Worker:
        worker_env = {**self.base_env, **{key: str(value) for key, value in overrides.items()}}
        command = [
            CELERY, "-A", "config.celery_app", "worker",
            "--hostname", f"{name}@%h", "--pool", "prefork", "--concurrency", str(concurrency),
            "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        if beat:
            command += ["--beat", "--schedule", str(self.directory / f"{name}-beat-schedule")]
        log = self.directory / f"{name}-{len(self.started)}.log"
        process = _spawn(command, worker_env, log)
        worker = Worker(name, process, log, command, worker_env, supervised=supervised)
        self.started.append(worker)
        if supervised and self._supervisor is None:
            self._supervisor = threading.Thread(target=self._supervise, daemon=True)
            self._supervisor.start()
        hostname = f"{name}@{socket.gethostname()}"

        def answers() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"worker {name} exited:\n{worker.output()[-4000:]}")
            return bool(celery_app.control.ping(destination=[hostname], timeout=0.5))

        wait_for(answers, timeout=60, interval=0.2, what=f"worker {hostname} to answer")
        return worker

    def stop_all(self) -> None:
        self._closing.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)
        for worker in self.started:
            worker.kill()


def test_database_url() -> str:
    database = settings.DATABASES["default"]
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    return f"postgres://{database['USER']}{password}@{database['HOST']}:{database['PORT']}/{database['NAME']}"


def point_celery_at(broker_url: str | None) -> None:
    """Make this (test) process publish to `broker_url` instead of running jobs eagerly;
    None puts the test settings back."""
    if broker_url is None:
        celery_app.conf.task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER
        celery_app.conf.broker_url = settings.CELERY_BROKER_URL
        celery_app.conf.broker_transport_options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    else:
        celery_app.conf.task_always_eager = False
        celery_app.conf.broker_url = broker_url
        celery_app.conf.broker_transport_options = {
            "socket_connect_timeout": 1,
            "socket_timeout": 3,
            "max_retries": 0,
        }
    # Forget every connection pool, so the next publish connects to the broker now configured.
    pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def publishing_to(own_redis: RedisServer) -> Iterator[str]:
    point_celery_at(own_redis.url)
    yield own_redis.url
    point_celery_at(None)


def worker_base_env(*, broker_url: str, directory: Path) -> dict[str, str]:
    return {
        **env.ENVIRON,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "TEST_DATABASE_URL": test_database_url(),
        "REDIS_URL": broker_url,
        "CELERY_BROKER_URL": broker_url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_VISIBILITY_TIMEOUT": "5",
        "CELERY_UNACKED_RESTORE_SECONDS": "1",
        "CELERY_BEAT_SCHEDULE_FILENAME": str(directory / "beat-schedule"),
        "OUTBOX_RELAY_SWEEP_SECONDS": "0.5",
        "SLA_TIMER_SECONDS": "3600",
        "AUTOMATION_HTTP_TIMEOUT_SECONDS": "2",
        "AUTOMATION_BACKOFF_SECONDS": "0.4",
        "AUTOMATION_MAX_ATTEMPTS": "4",
        "AUTOMATION_BREAKER_FAILURES": "50",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def workers(transactional_db: None, publishing_to: str, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(publishing_to, worker_base_env(broker_url=publishing_to, directory=tmp_path), tmp_path)
    yield pool
    pool.stop_all()
