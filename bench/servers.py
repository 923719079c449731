"""The production shape, started for a measurement: web processes (Daphne by default, as the
image runs them; Uvicorn or gunicorn with Uvicorn workers to compare) and Celery workers, on
the benchmark's database and Redis, each on a free port, stopped when the part ends.

Uvicorn and gunicorn are not project dependencies: `--server uvicorn|gunicorn` runs them from
a virtual environment of the benchmark's own that sees the project's packages
(/tmp/approval-bench/servers-venv, made on first use).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from common import BENCH_QUEUE, ROOT, bench_environment

SERVERS_VENV = Path("/tmp/approval-bench/servers-venv")
PROJECT_BIN = Path(sys.executable).parent


class WebServers(list):
    """The servers' base URLs, with the process ids of the web servers (for their memory)."""

    pids: list[int]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def servers_venv_python() -> str:
    python = SERVERS_VENV / "bin" / "python"
    if not (SERVERS_VENV / "bin" / "uvicorn").exists() or not (SERVERS_VENV / "bin" / "gunicorn").exists():
        subprocess.run([sys.executable, "-m", "venv", str(SERVERS_VENV)], check=True)
        site = subprocess.run(
            [str(python), "-c", "import site; print(site.getsitepackages()[0])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        ours = subprocess.run(
            [sys.executable, "-c", "import site; print(site.getsitepackages()[0])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        Path(site, "project-venv.pth").write_text(ours + "\n")
        subprocess.run(
            [str(SERVERS_VENV / "bin" / "pip"), "install", "-q", "uvicorn", "gunicorn"], check=True
        )
    return str(python)


def web_command(server: str, port: int, *, processes: int = 1) -> list[str]:
    if server == "daphne":
        return [str(PROJECT_BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"]
    python = servers_venv_python()
    if server == "uvicorn":
        return [
            python,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
            "--lifespan",
            "off",
        ]
    return [
        python,
        "-m",
        "gunicorn",
        "config.asgi:application",
        "-k",
        "uvicorn.workers.UvicornWorker",
        "-w",
        str(processes),
        "-b",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
    ]


@contextmanager
def production_shape(
    *, database_url: str, redis_url: str, web: int, workers: int, server: str = "daphne"
) -> Iterator[WebServers]:
    """Start `web` web servers and `workers` Celery worker processes; yield the servers' base URLs.

    gunicorn is one server with `web` worker processes behind one port (its own balancing);
    Daphne and Uvicorn are `web` servers on ports of their own (the client spreads its load).
    """
    env = {**os.environ, **bench_environment(database_url, redis_url)}
    processes: list[subprocess.Popen] = []
    urls = WebServers()
    urls.pids = []
    log = subprocess.DEVNULL
    try:
        for _ in range(min(web, 1) if server == "gunicorn" else web):
            port = free_port()
            processes.append(
                subprocess.Popen(
                    web_command(server, port, processes=web),
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
            urls.pids.append(processes[-1].pid)
        for i in range(workers):
            processes.append(
                subprocess.Popen(
                    [
                        str(PROJECT_BIN / "celery"),
                        "-A",
                        "config.celery_app",
                        "worker",
                        "--pool",
                        "solo",
                        "-Q",
                        BENCH_QUEUE,
                        "-n",
                        f"bench{i}@%h",
                        "--without-gossip",
                        "--without-mingle",
                        "--loglevel",
                        "WARNING",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
            )
        for url in urls:
            _wait_until_up(url)
        yield urls
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def _wait_until_up(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/api/v1/process-kinds/", timeout=2).status_code in (200, 401, 403):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"the web server at {url} did not come up in {timeout:.0f} s")
