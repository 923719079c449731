"""The production shape, started for a measurement: web processes (gunicorn with sync workers,
as the image runs them for HTTP; Daphne, Uvicorn, gunicorn with Uvicorn or gthread workers to
compare) and Celery workers, on the benchmark's database and Redis, each on a free port,
stopped when the part ends. docs/adr/serving-shape.md has the measurements behind the choice.

gunicorn is a project dependency; Uvicorn is not: `--server uvicorn|gunicorn-uvicorn` runs it
from a virtual environment of the benchmark's own that sees the project's packages
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
from common import BENCH_QUEUE, RELAY, ROOT, bench_environment, outbox_drained, relay_process

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


# The serving shapes a measurement can start. "one port" shapes are one server whose own
# master spreads connections over its processes; the others are one server per process, each
# on a port of its own (the load generator spreads its clients, as a load balancer would).
SHAPES = ("daphne", "uvicorn", "gunicorn-uvicorn", "gunicorn-sync", "gunicorn-gthread")
# The HTTP server production runs (docs/adr/serving-shape.md), the benchmarks' default.
PRODUCTION_HTTP = "gunicorn-sync"
ONE_PORT = {"uvicorn", "gunicorn-uvicorn", "gunicorn-sync", "gunicorn-gthread"}
# WSGI workers keep their database connection between requests (one thread, one connection);
# the ASGI servers do not (Django's documented advice for ASGI), so they reconnect per request.
WSGI = {"gunicorn-sync", "gunicorn-gthread"}


def web_command(server: str, port: int, *, processes: int = 1, threads: int = 4) -> list[str]:
    bind = ["127.0.0.1", str(port)]
    if server == "daphne":
        return [str(PROJECT_BIN / "daphne"), "-b", bind[0], "-p", bind[1], "config.asgi:application"]
    if server in WSGI and (PROJECT_BIN / "gunicorn").exists():
        gunicorn = [str(PROJECT_BIN / "gunicorn")]
    else:
        gunicorn = [servers_venv_python(), "-m", "gunicorn"]
    if server == "uvicorn":
        return [
            servers_venv_python(),
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            bind[0],
            "--port",
            bind[1],
            "--workers",
            str(processes),
            "--no-access-log",
            "--log-level",
            "warning",
            "--lifespan",
            "off",
        ]
    if server == "gunicorn-uvicorn":
        return [
            *gunicorn,
            "config.asgi:application",
            "-k",
            "uvicorn.workers.UvicornWorker",
            "-w",
            str(processes),
            "-b",
            ":".join(bind),
            "--log-level",
            "warning",
        ]
    # WSGI, with the production configuration file (workers, threads, timeouts).
    return [
        *gunicorn,
        "--config",
        str(ROOT / "config" / "gunicorn.conf.py"),
        "--workers",
        str(processes),
        "--worker-class",
        "gthread" if server == "gunicorn-gthread" else "sync",
        *(["--threads", str(threads)] if server == "gunicorn-gthread" else []),
        "--bind",
        ":".join(bind),
        "--log-level",
        "warning",
    ]


@contextmanager
def production_shape(
    *,
    database_url: str,
    redis_url: str,
    web: int,
    workers: int,
    server: str = "daphne",
    threads: int = 4,
) -> Iterator[WebServers]:
    """Start `web` web servers and `workers` Celery worker processes; yield the servers' base URLs.

    Uvicorn and gunicorn are one server with `web` worker processes behind one port (their
    own balancing); Daphne is `web` servers on ports of their own (the client spreads its load).
    """
    env = {**os.environ, **bench_environment(database_url, redis_url)}
    processes: list[subprocess.Popen] = []
    urls = WebServers()
    urls.pids = []
    log = subprocess.DEVNULL
    try:
        for _ in range(min(web, 1) if server in ONE_PORT else web):
            port = free_port()
            processes.append(
                subprocess.Popen(
                    web_command(server, port, processes=web, threads=threads),
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
        with relay_process(database_url, redis_url):
            for url in urls:
                _wait_until_up(url)
            if RELAY == "process":
                # The setup's own rows (the open tasks made for the load) are sent before it starts.
                # (A relay thread sends only the rows of its own process's commits.)
                outbox_drained(database_url)
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
