from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.ops.connectivity import postgres_server_problem, redis_problem
from config.env import env

DEFAULT_TEST_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/approval_inbox"
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/15"


class Command(BaseCommand):
    requires_system_checks: list[str] = []
    help = (
        "Run the test suite with pytest on PostgreSQL and Redis (TEST_DATABASE_URL, TEST_REDIS_URL). "
        "Under CI=true an unreachable PostgreSQL or Redis fails the run at once; elsewhere the suite "
        "falls back to SQLite and skips the tests that need the missing service. The tests run in "
        "one pytest process per core (pytest-xdist, a test file at a time per process, each process "
        "on a test database of its own). Extra arguments go to pytest, e.g. "
        "`manage.py test --workers 1 -- -k audit -x`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--slow", action="store_true", help="Run only the slow soak tests (marked `slow`)."
        )
        parser.add_argument("--all", action="store_true", help="Run the fast and the slow tests.")
        parser.add_argument(
            "--workers",
            type=int,
            default=default_workers(),
            help="Test processes run side by side (default: one per core this process may use, "
            "at most 8); 1 runs them in this one.",
        )
        parser.add_argument("pytest_args", nargs="*", help="Passed to pytest unchanged.")

    def handle(self, *args: object, **options: object) -> None:
        in_ci = env.bool("CI", default=False)
        database_url = env.str("TEST_DATABASE_URL", default=DEFAULT_TEST_DATABASE_URL)
        redis_url = env.str("TEST_REDIS_URL", default=DEFAULT_TEST_REDIS_URL)
        child_env = dict(env.ENVIRON)
        child_env.update(
            TEST_DATABASE_URL=database_url,
            TEST_REDIS_URL=redis_url,
            DJANGO_SETTINGS_MODULE="config.settings_test",
        )

        pg_problem = (
            postgres_server_problem(database_url)
            if database_url.startswith(("postgres", "pgsql", "psql"))
            else None
        )
        redis_down = redis_problem(redis_url)
        if in_ci and (pg_problem or redis_down):
            raise CommandError(
                "CI needs PostgreSQL and Redis, and at least one is unreachable:\n"
                f"  PostgreSQL {database_url}: {pg_problem or 'ok'}\n"
                f"  Redis {redis_url}: {redis_down or 'ok'}"
            )
        if pg_problem:
            self.stderr.write(
                self.style.WARNING(
                    f"PostgreSQL is unreachable ({pg_problem}); "
                    "running on SQLite and skipping PostgreSQL-only tests."
                )
            )
            child_env["TEST_DATABASE_URL"] = f"sqlite:///{settings.BASE_DIR / 'var' / 'test.sqlite3'}"
        if redis_down:
            self.stderr.write(
                self.style.WARNING(f"Redis is unreachable ({redis_down}); skipping Redis tests.")
            )
            child_env["TEST_REDIS_UNAVAILABLE"] = "1"

        marker = "slow" if options["slow"] else ("" if options["all"] else "not slow")
        command = pytest_command(marker, int(options["workers"]), list(options["pytest_args"]))
        result = subprocess.run(command, cwd=settings.BASE_DIR, env=child_env)
        sys.exit(result.returncode)


def default_workers() -> int:
    """One per core this process may run on (a container's CPU set, not the host's count), at
    most 8: each worker has a test database, and its live tests start servers and workers
    with connections of their own."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(8, usable or 1))  # (macOS has no affinity call)


def pytest_command(marker: str, workers: int, pytest_args: list[str]) -> list[str]:
    """The pytest command line. Several workers take one test file at a time (--dist loadfile),
    so a module's servers (tests/live, tests/browser) start once; pytest-django gives each
    worker a database of its own (test_<name>_gw0, _gw1, ...)."""
    parallel = ["-n", str(workers), "--dist", "loadfile"] if workers > 1 else ["-p", "no:xdist"]
    if any(arg == "-n" or arg.startswith(("-n", "--numprocesses")) for arg in pytest_args):
        parallel = []  # the caller chose
    return [
        sys.executable,
        "-m",
        "pytest",
        *(["-m", marker] if marker else []),
        *parallel,
        *pytest_args,
    ]
