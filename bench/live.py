"""Benchmark: the live inbox, from the commit of a change to the websocket frame.

    .venv/bin/python bench/live.py [--events 300] [--clients 20] [--fanout-clients 1000]

Uses a database of its own, `approval_live_bench` (BENCH_DATABASE_URL overrides it), a
redis-server of its own on a spare port (channel layer and live event store), and two
Daphne processes. The demo data is seeded; this process is the producer, as a web process
is: it claims and puts back PO-DEMO-1001's team-lead task in turn, and the outbox relay
runs in it after each commit (the on-commit nudge), as in a request.

Latency: `--clients` sockets (half on each server) hear `--events` events, sent one every
`--gap-ms`; each is timed from its `occurred_at` (read inside the transaction, so a little
before the commit: the figure is if anything too high) to its frame's arrival at every
client. Fan-out: `--fanout-clients` sockets over the two servers, one event, timed from its
`occurred_at` until the last socket has it (`--fanout-rounds` times).

The servers use the channel layer production uses (channels-redis's pub/sub layer);
`CHANNEL_LAYER_KIND=lists .venv/bin/python bench/live.py` runs them on the list layer, to
compare the two in alternating runs (README, "Measured").

Exits 1 when p95 latency exceeds --p95-budget-ms or a fan-out exceeds --fanout-budget-s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from common import database_create, free_port  # noqa: E402 (after the path is set)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def _wait_http(port: int, timeout: float) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"daphne on {port} did not answer")


class Clients:
    """Websocket clients in an event loop of their own thread; each records when it heard
    each event (by event id)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.heard: dict[int, list[float]] = {}
        self.sockets: list = []
        self.readers: list = []
        self.dropped = 0  # sockets the server closed before the bench did
        self.close_codes: dict[int | None, int] = {}

    def run(self, coroutine, timeout: float = 600):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def _one(self, url: str, key: str) -> None:
        from websockets.asyncio.client import connect

        # No keepalive pings: on a loaded machine a late pong would close a socket mid-run.
        connection = await connect(
            url, additional_headers={"Authorization": f"Api-Key {key}"}, open_timeout=120, ping_interval=None
        )
        hello = json.loads(await connection.recv())
        assert hello["type"] == "hello", hello
        await connection.send(json.dumps({"type": "resume", "after": None}))
        while json.loads(await connection.recv())["type"] != "resumed":
            pass
        self.sockets.append(connection)
        self.readers.append(asyncio.ensure_future(self._read(connection)))

    async def _read(self, connection) -> None:  # type: ignore[no-untyped-def]
        try:
            async for message in connection:
                at = time.time()
                frame = json.loads(message)
                if frame.get("type") == "event" and frame["stream"].startswith("queue-"):
                    self.heard.setdefault(frame["id"], []).append(at)
        except asyncio.CancelledError:
            return
        except Exception:
            pass
        self.dropped += 1
        self.close_codes[connection.close_code] = self.close_codes.get(connection.close_code, 0) + 1

    def connect(self, urls: list[str], key: str, count: int, *, at_once: int = 50) -> None:
        async def all_of_them() -> None:
            for start in range(0, count, at_once):
                batch = range(start, min(count, start + at_once))
                await asyncio.gather(*(self._one(urls[i % len(urls)], key) for i in batch))

        self.run(all_of_them())

    def close(self) -> None:
        async def close_all() -> None:
            for reader in self.readers:
                if not reader.done():
                    reader.cancel()
            await asyncio.gather(*(s.close() for s in self.sockets), return_exceptions=True)

        self.run(close_all())
        self.sockets, self.readers, self.heard = [], [], {}

    def take_dropped(self) -> int:
        dropped, self.dropped = self.dropped, 0
        return dropped

    def wait_for(self, event_id: int, count: int, timeout: float) -> list[float]:
        deadline = time.monotonic() + timeout
        while len(self.heard.get(event_id, [])) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        return list(self.heard.get(event_id, []))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--clients", type=int, default=20, help="sockets hearing the latency events")
    parser.add_argument("--gap-ms", type=float, default=20.0, help="pause between latency events")
    parser.add_argument("--fanout-clients", type=int, default=1000)
    parser.add_argument("--fanout-rounds", type=int, default=3)
    parser.add_argument("--p95-budget-ms", type=float, default=50.0)
    parser.add_argument("--fanout-budget-s", type=float, default=0.5)
    args = parser.parse_args()

    database_url = os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/approval_live_bench"
    )
    database_create(database_url, drop=True)
    redis_port = free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    settings_env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CHANNEL_LAYER_REDIS_URL": redis_url,
        "LIVE_REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_LOG_LEVEL": "WARNING",
        # Personal events only (none here) would need a worker; nothing waits on one.
        "CELERY_TASK_ALWAYS_EAGER": "1",
    }
    os.environ.update(settings_env)
    children: list[subprocess.Popen] = []
    redis_bin = shutil.which("redis-server") or "redis-server"
    children.append(
        subprocess.Popen(
            [redis_bin, "--port", str(redis_port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
    )
    clients = Clients()
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from apps.accounts.models import User
        from apps.accounts.services import api_key_create
        from apps.humantasks.models import HumanTask
        from apps.humantasks.services import task_claim, task_unclaim
        from apps.notifications.models import OutboxMessage
        from apps.ops.demo import demo_seed

        demo_seed(password="bench-only-password")
        lead = User.objects.get(username="lead1")
        key = api_key_create(user=lead, name="bench", actor=None)[1]
        task = HumanTask.objects.get(instance__business_key="PO-DEMO-1001", state="open")

        daphne = str(Path(sys.executable).with_name("daphne"))
        ports = [free_port(), free_port()]
        logs = Path(os.environ.get("BENCH_LOG", "/tmp/bench-live-daphne.log"))
        logs.unlink(missing_ok=True)
        for port in ports:
            children.append(
                subprocess.Popen(
                    # Daphne refuses a handshake the application has not answered in 5 s;
                    # 1,000 sockets opened in bursts on a loaded machine take longer.
                    [
                        daphne,
                        "-b",
                        "127.0.0.1",
                        "-p",
                        str(port),
                        "--websocket_connect_timeout",
                        "120",
                        "config.asgi:application",
                    ],
                    cwd=ROOT,
                    env={**os.environ},
                    stdout=subprocess.DEVNULL,
                    stderr=logs.open("ab"),
                )
            )
        for port in ports:
            _wait_http(port, timeout=120)
        urls = [f"ws://127.0.0.1:{port}/ws/inbox/" for port in ports]

        def one_event() -> tuple[int, float]:
            """Claim or put back the task; the event's id and its occurred_at (epoch s)."""
            nonlocal task
            if task.state == HumanTask.State.OPEN:
                task = task_claim(task=task, actor=lead, expected_version=task.version)
            else:
                task = task_unclaim(task=task, actor=lead, expected_version=task.version)
            row = OutboxMessage.objects.filter(topic__startswith="task.").latest("id")
            return row.pk, datetime.fromisoformat(row.payload["occurred_at"]).timestamp()

        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()}")
        # Latency.
        clients.connect(urls, key, args.clients)
        one_event()  # warm both servers' paths
        latencies: list[float] = []
        missing = 0
        for _ in range(args.events):
            event_id, occurred = one_event()
            heard = clients.wait_for(event_id, args.clients, timeout=5)
            missing += args.clients - len(heard)
            latencies.extend((at - occurred) * 1000 for at in heard)
            time.sleep(args.gap_ms / 1000)
        dropped = clients.take_dropped()
        clients.close()
        p50, p95, p99 = (_percentile(latencies, q) for q in (0.50, 0.95, 0.99))
        print(
            f"latency commit -> frame over {args.events} events x {args.clients} clients (2 servers): "
            f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, max {max(latencies):.1f} ms"
            + (f", {missing} frames missing" if missing else "")
            + (f", {dropped} sockets closed by the servers" if dropped else "")
        )

        # Fan-out.
        started = time.monotonic()
        clients.connect(urls, key, args.fanout_clients)
        print(f"{args.fanout_clients} clients connected in {time.monotonic() - started:.1f} s")
        fanouts: list[float] = []
        fan_missing = 0
        for _ in range(args.fanout_rounds):
            event_id, occurred = one_event()
            heard = clients.wait_for(event_id, args.fanout_clients, timeout=30)
            fan_missing += args.fanout_clients - len(heard)
            fanouts.append(max(heard) - occurred if heard else float("inf"))
            time.sleep(0.5)
        fan_dropped = clients.take_dropped()
        clients.close()
        print(
            f"fan-out of one event to {args.fanout_clients} clients (2 servers), commit -> last frame: "
            + ", ".join(f"{f:.3f} s" for f in fanouts)
            + f" (median {statistics.median(fanouts):.3f} s)"
            + (f", {fan_missing} frames missing" if fan_missing else "")
            + (f", {fan_dropped} sockets closed by the servers" if fan_dropped else "")
        )
        if clients.close_codes:
            print(
                f"close codes of the sockets the servers closed: {clients.close_codes} (servers' log: {logs})"
            )
        print(f"load average after: {os.getloadavg()}")
        ok = (
            p95 <= args.p95_budget_ms
            and max(fanouts) <= args.fanout_budget_s
            and not missing
            and not fan_missing
        )
        print(
            "targets met"
            if ok
            else f"TARGETS MISSED (p95 <= {args.p95_budget_ms} ms, fan-out <= {args.fanout_budget_s} s)"
        )
        return 0 if ok else 1
    finally:
        for child in reversed(children):
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


if __name__ == "__main__":
    sys.exit(main())
