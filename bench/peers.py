"""The baselines every figure is read against, run on the same machine in the same run:

- the raw database: pgbench running bench-peers' approval-shaped transaction (lock a task
  row, update it, insert an audit and an outbox row) and its inbox queries, on a database of
  our own (`<bench database>_limits`), never the peers' fixed `limits`;
- django-viewflow 2.x: bench-peers' smallest flow, in a virtual environment of its own
  (created here from the package registry on first use; never a dependency of the project),
  on a database of our own (`<bench database>_viewflow`).

The peer projects stay where they are (`--peers`, default /work/shared/bench-peers): their
scripts and the viewflow project are read from there, nothing of them is copied here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import percentile

DEFAULT_PEERS = Path("/work/shared/bench-peers")
VIEWFLOW_REQUIREMENTS = ["django>=5.2,<5.3", "django-viewflow>=2,<3", "psycopg[binary]"]


def _pg_env(database_url: str) -> dict[str, str]:
    """libpq environment for a postgres://user[:password]@host:port/name URL."""
    match = re.match(r"postgres(?:ql)?://(?:([^:@/]+)(?::([^@/]*))?@)?([^:/]+)(?::(\d+))?/(.+)", database_url)
    if not match:
        raise ValueError(f"not a PostgreSQL URL: {database_url}")
    user, password, host, port, name = match.groups()
    env = {
        **os.environ,
        "PGHOST": host,
        "PGPORT": port or "5432",
        "PGUSER": user or "postgres",
        "PGDATABASE": name,
    }
    if password:
        env["PGPASSWORD"] = password
    return env


def sibling_url(database_url: str, suffix: str) -> str:
    return f"{database_url}_{suffix}"


class RawDatabase:
    """pgbench on bench-peers' pg_limit scripts, on a database of the benchmark's own."""

    def __init__(self, *, peers: Path, database_url: str) -> None:
        self.scripts = peers / "pg_limit"
        self.url = sibling_url(database_url, "limits")
        self.env = _pg_env(self.url)

    def prepare(self) -> None:
        if shutil.which("pgbench") is None:
            raise SystemExit("pgbench is not installed (Debian: postgresql-contrib / postgresql-client)")
        name = self.env["PGDATABASE"]
        admin = {**self.env, "PGDATABASE": "postgres"}
        subprocess.run(
            ["psql", "-qAt", "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], env=admin, check=True
        )
        subprocess.run(["psql", "-qAt", "-c", f'CREATE DATABASE "{name}"'], env=admin, check=True)
        subprocess.run(
            [
                "psql",
                "-qAt",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                "SET client_min_messages=warning",
                "-f",
                str(self.scripts / "schema.sql"),
            ],
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def run(self, script: str, *, clients: int, seconds: int) -> dict[str, Any]:
        """tx/s and latency percentiles of `script` at `clients` clients for `seconds`."""
        with tempfile.TemporaryDirectory(prefix="pgbench-") as tmp:
            out = subprocess.run(
                [
                    "pgbench",
                    "-n",
                    "-f",
                    str(self.scripts / script),
                    "-c",
                    str(clients),
                    "-j",
                    str(min(clients, 2)),
                    "-T",
                    str(seconds),
                    "-l",
                    f"--log-prefix={tmp}/log",
                ],
                env=self.env,
                capture_output=True,
                text=True,
                check=True,
                cwd=tmp,
            ).stdout
            tps = float(re.search(r"^tps = ([0-9.]+)", out, re.M).group(1))
            latencies = []
            for log in Path(tmp).glob("log*"):
                latencies += [
                    int(line.split()[2]) / 1e6 for line in log.read_text().splitlines() if line.strip()
                ]
        return {
            "tps": tps,
            "p50_ms": 1000 * percentile(latencies, 50),
            "p95_ms": 1000 * percentile(latencies, 95),
            "p99_ms": 1000 * percentile(latencies, 99),
        }

    def explain(self, sql: str) -> str:
        return subprocess.run(
            ["psql", "-qAt", "-c", "EXPLAIN " + sql], env=self.env, capture_output=True, text=True, check=True
        ).stdout


class Viewflow:
    """bench-peers' viewflow project, timed by its own peerbench command."""

    def __init__(self, *, peers: Path, database_url: str, venv: Path) -> None:
        self.project = peers / "viewflow"
        self.url = sibling_url(database_url, "viewflow")
        self.venv = venv
        env = _pg_env(self.url)
        self.env = {**env, "VF_DB": env["PGDATABASE"], "DJANGO_SETTINGS_MODULE": "settings"}
        self.python = str(venv / "bin" / "python")

    def prepare(self) -> str:
        """The virtual environment (made once) and a fresh database; returns viewflow's version."""
        probe = [self.python, "-c", "import importlib.metadata as m; print(m.version('django-viewflow'))"]
        if not Path(self.python).exists() or subprocess.run(probe, capture_output=True).returncode:
            subprocess.run([sys.executable, "-m", "venv", str(self.venv)], check=True)
            subprocess.run(
                [str(self.venv / "bin" / "pip"), "install", "-q", *VIEWFLOW_REQUIREMENTS], check=True
            )
        Path("/tmp/peerbench").mkdir(exist_ok=True)  # peerbench writes its query plans there
        version = subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip()
        name = self.env["PGDATABASE"]
        admin = {**self.env, "PGDATABASE": "postgres"}
        subprocess.run(
            ["psql", "-qAt", "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], env=admin, check=True
        )
        subprocess.run(["psql", "-qAt", "-c", f'CREATE DATABASE "{name}"'], env=admin, check=True)
        subprocess.run(
            [self.python, "manage.py", "migrate", "-v0"], cwd=self.project, env=self.env, check=True
        )
        return version

    def run(self, *, n: int) -> dict[str, float]:
        out = subprocess.run(
            [
                self.python,
                "manage.py",
                "peerbench",
                "--n",
                str(n),
                "--backlog",
                "2000",
                "--backlog-mode",
                "sql",
                "--samples",
                "5",
            ],
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        figures = {}
        for line in out.splitlines():
            name, _, rest = line.partition(":")
            try:
                figures[name.strip()] = float(rest.split()[0])
            except (IndexError, ValueError):
                continue
        start, decide = figures["viewflow_start_per_s"], figures["viewflow_assign_complete_per_s"]
        return {
            "start_per_s": start,
            "claim_complete_per_s": decide,
            "end_to_end_per_s": 1 / (1 / start + 1 / decide),
            "start_sql": figures["viewflow_start_sql_statements"],
            "claim_complete_sql": figures["viewflow_assign_complete_sql_statements"],
        }
