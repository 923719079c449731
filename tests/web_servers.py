"""Real web processes for tests: `daphne config.asgi:application` on spare ports, as production
runs them, with the environment a test gives (its database, its Redis, small limits).

Tests using these need django_db(transaction=True): the servers are other processes and see
only what the test has committed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from config.env import BASE_DIR
from tests.celery_workers import free_port, wait_for

DAPHNE = str(Path(sys.executable).with_name("daphne"))


@dataclass
class WebServer:
    """One Daphne process; kill() is SIGKILL (no graceful shutdown), start() again on the same port."""

    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [DAPHNE, "-b", "127.0.0.1", "-p", str(self.port), "config.asgi:application"],
                cwd=BASE_DIR,
                env={**self.env, "DJANGO_SETTINGS_MODULE": "config.settings_test"},
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self.answering, timeout=60, interval=0.25, what=f"daphne at {self.url}")

    def answering(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"daphne at {self.url} exited:\n{self.output()[-4000:]}")
        try:
            return httpx.get(f"{self.url}/api/v1/process-kinds/", timeout=1).status_code == 401
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class WebServers:
    env: dict[str, str]
    directory: Path
    started: list[WebServer] = field(default_factory=list)

    def start(self, count: int = 1, **overrides: str) -> list[WebServer]:
        servers = []
        for _n in range(count):
            server = WebServer(
                free_port(),
                {**self.env, **{key: str(value) for key, value in overrides.items()}},
                self.directory / f"web{len(self.started)}.log",
            )
            self.started.append(server)
            server.start()
            servers.append(server)
        return servers

    def stop_all(self) -> None:
        for server in self.started:
            server.kill()
