"""Benchmark: webhook deliveries per second to a local receiver, and the delay from the
commit of a change to the first delivery attempt of its event.

    .venv/bin/python bench/webhooks.py [--events 400] [--latency-samples 100] [--workers 2]

Uses a database of its own, `approval_webhooks_bench` (BENCH_DATABASE_URL overrides it),
a redis-server of its own on a spare port, `--workers` Celery worker processes (beat on
the first) and a receiver on loopback that answers 204 at once. Throughput: `--events`
purchase orders started back to back, one `task.created` delivery each, timed from the
first commit to the last delivery received. Latency: `--latency-samples` orders started
one at a time, each timed from its commit to its delivery's arrival.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from common import database_create, free_port  # noqa: E402 (after the path is set)


class Arrivals:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_instance: dict[int, float] = {}
        self.count = 0
        self.last = 0.0

    def handler(self) -> type[BaseHTTPRequestHandler]:
        import json

        arrivals = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                at = time.time()
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with arrivals.lock:
                    arrivals.by_instance.setdefault(body["data"]["instance"], at)
                    arrivals.count += 1
                    arrivals.last = at
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        return Handler


def _wait(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.02)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--latency-samples", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2, help="pool processes per worker")
    args = parser.parse_args()

    database_url = os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/approval_webhooks_bench"
    )
    database_create(database_url, drop=True)
    redis_port = free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    settings_env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "WEBHOOKS_ALLOW_PRIVATE_TARGETS": "1",
        "WEBHOOKS_ALLOW_HTTP": "1",
        "DJANGO_LOG_LEVEL": "WARNING",
    }
    os.environ.update(settings_env)
    children: list[subprocess.Popen] = []
    redis_server = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(redis_port),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    children.append(redis_server)
    arrivals = Arrivals()
    server = ThreadingHTTPServer(("127.0.0.1", 0), arrivals.handler())
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import transaction

        call_command("migrate", verbosity=0)
        from apps.accounts.services import roles_ensure
        from apps.humantasks.services import queues_ensure_standard
        from apps.webhooks.models import WebhookDelivery
        from apps.webhooks.services.endpoints import endpoint_create
        from apps.workflows.services import instance_start
        from tests.factories import UserFactory

        roles_ensure()
        queues_ensure_standard(actor=None)
        requester = UserFactory(username="bench-requester", roles=["Requesters"])
        lead = UserFactory(username="bench-lead", roles=["Team leads"])
        endpoint_create(
            owner=lead,
            url=f"http://127.0.0.1:{server.server_address[1]}/hooks",
            event_types=["task.created"],
            actor=None,
        )
        celery = str(Path(sys.executable).with_name("celery"))
        for n in range(args.workers):
            command = [
                celery, "-A", "config.celery_app", "worker", "--hostname", f"bench{n}@%h",
                "--pool", "prefork", "--concurrency", str(args.concurrency), "--loglevel", "WARNING",
                "--without-gossip", "--without-mingle",
            ]  # fmt: skip
            if n == 0:
                command += ["--beat", "--schedule", f"/tmp/bench-webhooks-beat-{redis_port}"]
            children.append(
                subprocess.Popen(
                    command, cwd=ROOT, env={**os.environ}, start_new_session=True, stdout=subprocess.DEVNULL
                )
            )
        from config.celery_app import app

        _wait(lambda: len(app.control.ping(timeout=0.5)) >= args.workers, 60, "the workers")

        def order(key: str):  # type: ignore[no-untyped-def]
            return instance_start(
                kind="purchase_order",
                business_key=key,
                data={"amount": 100, "currency": "EUR", "supplier": "Acme", "description": "Bench"},
                actor=requester,
            )

        # Warm up (connections, imports in the pool processes).
        for n in range(10):
            order(f"WARM-{n}")
        _wait(lambda: arrivals.count >= 10, 60, "the warm-up deliveries")

        # Latency: one change at a time, from its commit to the arrival of its delivery.
        delays = []
        for n in range(args.latency_samples):
            committed: list[float] = []
            with transaction.atomic():
                transaction.on_commit(lambda marks=committed: marks.append(time.time()))
                instance = order(f"LAT-{n}")
            _wait(lambda pk=instance.pk: pk in arrivals.by_instance, 30, "a delivery")
            delays.append((arrivals.by_instance[instance.pk] - committed[0]) * 1000)
            time.sleep(0.02)

        # Throughput: many changes back to back.
        before = arrivals.count
        started = time.time()
        for n in range(args.events):
            order(f"RATE-{n}")
        committed_all = time.time()
        _wait(lambda: arrivals.count >= before + args.events, 300, "every delivery")
        elapsed = arrivals.last - started
        succeeded = WebhookDelivery.objects.filter(state="succeeded").count()
        print(f"workers: {args.workers} x concurrency {args.concurrency}")
        print(
            f"throughput: {args.events} deliveries in {elapsed:.2f} s = {args.events / elapsed:.0f}/s "
            f"(commits alone took {committed_all - started:.2f} s); {succeeded} succeeded in all"
        )
        print(
            f"commit -> first attempt over {len(delays)} events: p50 {statistics.median(delays):.1f} ms, "
            f"p95 {_percentile(delays, 0.95):.1f} ms, max {max(delays):.1f} ms"
        )
        return 0
    finally:
        server.shutdown()
        for child in reversed(children):
            with contextlib.suppress(ProcessLookupError):
                if child is redis_server:
                    child.kill()
                else:
                    os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=10)


if __name__ == "__main__":
    raise SystemExit(main())
