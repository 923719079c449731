"""Real ASGI servers for the live tests: Daphne processes on loopback, on the test database,
sharing one channel layer and live event store on the test's Redis (under keys of the
test's own), and websocket clients (the `websockets` package) that talk to them.

Tests using these need django_db(transaction=True): the servers see only what is committed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from config.env import BASE_DIR, env
from tests.celery_workers import free_port, test_database_url, wait_for

DAPHNE = str(Path(sys.executable).with_name("daphne"))


@dataclass
class DaphneServer:
    name: str
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/inbox/"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@dataclass
class LiveServers:
    redis_url: str
    prefix: str
    directory: Path
    started: list[DaphneServer] = field(default_factory=list)

    def environment(self, **overrides: Any) -> dict[str, str]:
        """What a server process of these tests runs with (beat's timers, too)."""
        return {
            **env.ENVIRON,
            "DJANGO_SETTINGS_MODULE": "config.settings_test",
            "TEST_DATABASE_URL": test_database_url(),
            "CHANNEL_LAYER_REDIS_URL": self.redis_url,
            "CHANNEL_LAYER_PREFIX": self.prefix,
            "LIVE_REDIS_URL": self.redis_url,
            "LIVE_KEY_PREFIX": self.prefix,
            "CELERY_TASK_ALWAYS_EAGER": "1",
            "DJANGO_LOG_LEVEL": "WARNING",
            **{key: str(value) for key, value in overrides.items()},
        }

    def start(self, name: str, **overrides: Any) -> DaphneServer:
        port = free_port()
        server_env = self.environment(**overrides)
        log = self.directory / f"daphne-{name}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [DAPHNE, "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
                cwd=BASE_DIR,
                env=server_env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        server = DaphneServer(name, port, process, log)
        self.started.append(server)

        def answers() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"daphne {name} exited:\n{server.output()[-4000:]}")
            try:
                return requests.get(f"{server.url}/accounts/login/", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(answers, timeout=60, interval=0.2, what=f"daphne {name} to answer")
        return server

    def run(self, call: str) -> str:
        """Runs `module.function` in a process of its own, as beat would (its after-commit
        relay reaches the servers' sockets like any other process's); returns its result."""
        module, _dot, function = call.rpartition(".")
        code = f"import django; django.setup(); from {module} import {function}; print({function}())"
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=BASE_DIR,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        return done.stdout.strip().splitlines()[-1]

    def pair(self) -> tuple[DaphneServer, DaphneServer]:
        """Servers "a" and "b", started on first use."""
        while len(self.started) < 2:
            self.start("ab"[len(self.started)])
        return self.started[0], self.started[1]

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()


@pytest.fixture(scope="module")
def _daphne_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServers]:
    """Two servers per test module (starting one takes seconds); each test's data is its own."""
    import uuid

    servers = LiveServers(
        redis_url=settings.TEST_REDIS_URL,
        prefix=f"t{uuid.uuid4().hex[:12]}",
        directory=tmp_path_factory.mktemp("daphne"),
    )
    yield servers
    servers.stop_all()


@pytest.fixture
def live_servers(_daphne_pair: LiveServers, live_on: Callable[..., str]) -> LiveServers:
    """The module's Daphne servers (live_servers.pair()); this process shares their layer."""
    live_on(_daphne_pair.redis_url, _daphne_pair.prefix)
    return _daphne_pair


class Listener:
    """One websocket client: the frames it heard, and what it sends."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.hello = self.next_frame(timeout=10)
        assert self.hello["type"] == "hello", self.hello

    def send(self, frame: dict[str, Any] | str) -> None:
        self.connection.send(frame if isinstance(frame, str) else json.dumps(frame))

    def next_frame(self, *, timeout: float) -> dict[str, Any] | None:
        try:
            return json.loads(self.connection.recv(timeout=timeout))
        except TimeoutError:
            return None

    def resume(self, after: dict[str, int] | None = None) -> dict[str, Any]:
        self.send({"type": "resume", "after": after})
        frames = self.frames_until(lambda f: f["type"] == "resumed", timeout=10)
        self.replayed = frames[:-1]
        return frames[-1]

    def frames_until(self, done: Callable[[dict[str, Any]], bool], *, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        frames: list[dict[str, Any]] = []
        while True:
            left = deadline - time.monotonic()
            frame = self.next_frame(timeout=max(left, 0.01)) if left > 0 else None
            if frame is None:
                raise AssertionError(f"gave up after {timeout}s; heard {frames}")
            frames.append(frame)
            if done(frame):
                return frames

    def quiet_for(self, seconds: float) -> list[dict[str, Any]]:
        """Everything heard in the next `seconds` (to show that nothing came)."""
        heard, deadline = [], time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            frame = self.next_frame(timeout=left)
            if frame is not None:
                heard.append(frame)
        return heard

    def close_code(self, *, timeout: float) -> int | None:
        try:
            while True:
                self.connection.recv(timeout=timeout)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
        except TimeoutError:
            return None

    def close(self) -> None:
        self.connection.close()


def listen(server: DaphneServer, api_key: str, *, resume: bool = True) -> Listener:
    connection = connect(
        server.ws_url, additional_headers={"Authorization": f"Api-Key {api_key}"}, open_timeout=10
    ).__enter__()  # closed by the test (or by the server); no `with` block spans a test
    listener = Listener(connection)
    if resume:
        listener.resume()
    return listener
