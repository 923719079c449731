"""Part 2, over HTTP: claim + complete by many team leads at once against the production
shape (web processes, PostgreSQL, Redis, Celery workers), from an async httpx load generator.

    python bench/http_load.py --clients 16 --seconds 20 [--web 2] [--workers 2] [--server daphne]

Each client is one team lead with an API key of their own and a share of the open team-lead
tasks: POST claim, then POST complete with the claim's version as If-Match. Clients are
spread over the web servers. Reported: pairs per second, latency per request and per pair.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

import httpx
from common import (
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    RELAY,
    company_ensure,
    django_setup,
    emit,
    order_data,
    outbox_backlog,
    summary_ms,
)
from servers import PRODUCTION_HTTP, SHAPES, production_shape


def open_tasks_ensure(*, count: int, requesters: list, run: str) -> list[int]:
    """At least `count` open team-lead tasks of 1,200 EUR orders; their ids."""
    from apps.humantasks.models import HumanTask
    from apps.workflows.services import instance_start

    open_tasks = HumanTask.objects.filter(step="team_lead_approval", state="open")
    missing = count - open_tasks.count()
    for i in range(max(0, missing)):
        instance_start(
            kind="purchase_order",
            business_key=f"HTTP-{run}-{i}",
            data=order_data(i),
            actor=requesters[i % len(requesters)],
        )
    return list(open_tasks.order_by("id").values_list("pk", flat=True)[:count])


async def lead_works(
    client: httpx.AsyncClient, key: str, tasks: list[int], stop_at: float, out: dict
) -> None:
    headers = {"Authorization": f"Api-Key {key}"}
    for task_id in tasks:
        if time.perf_counter() >= stop_at:
            return
        began = time.perf_counter()
        try:
            claim = await client.post(f"/api/v1/tasks/{task_id}/claim/", json={}, headers=headers)
        except httpx.HTTPError as error:  # a dropped connection is an error, not the end of the run
            out["errors"].append(type(error).__name__)
            continue
        claimed = time.perf_counter()
        out["requests"].append(claimed - began)
        if claim.status_code != 200:
            out["errors"].append(claim.status_code)
            continue
        version = claim.json()["version"]
        try:
            complete = await client.post(
                f"/api/v1/tasks/{task_id}/complete/",
                json={"outcome": "approve", "comment": "Within budget"},
                headers={**headers, "If-Match": f'"{version}"'},
            )
        except httpx.HTTPError as error:
            out["errors"].append(type(error).__name__)
            continue
        done = time.perf_counter()
        out["requests"].append(done - claimed)
        if complete.status_code != 200:
            out["errors"].append(complete.status_code)
            continue
        out["pairs"].append(done - began)


def machine_busy_seconds() -> float:
    """CPU seconds this machine has spent busy since boot, every process counted (/proc/stat:
    all but idle, I/O wait and the time the hypervisor gave to others)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, _steal = fields[:8]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


async def load(urls: list[str], keys: list[str], tasks: list[int], seconds: float) -> dict:
    clients = len(keys)
    out: dict = {"requests": [], "pairs": [], "errors": []}
    shares = [tasks[i::clients] for i in range(clients)]
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    sessions = [
        httpx.AsyncClient(base_url=urls[i % len(urls)], timeout=60, limits=limits) for i in range(clients)
    ]
    try:
        # Warm up every server (imports, connections, caches) before the clock starts.
        warm = {"requests": [], "pairs": [], "errors": []}
        await asyncio.gather(
            *(
                lead_works(sessions[i], keys[i], shares[i][:2], time.perf_counter() + 30, warm)
                for i in range(clients)
            )
        )
        shares = [share[2:] for share in shares]
        busy, own = machine_busy_seconds(), time.process_time()
        began = time.perf_counter()
        await asyncio.gather(
            *(lead_works(sessions[i], keys[i], shares[i], began + seconds, out) for i in range(clients))
        )
        out["elapsed"] = time.perf_counter() - began
        # What a pair costs the machine (web processes, PostgreSQL, Redis, the relay, the
        # workers), without this load generator: unlike pairs per second it does not move
        # with the CPU time other machines take from this one.
        out["busy"] = machine_busy_seconds() - busy - (time.process_time() - own)
        out["generator"] = time.process_time() - own
        out["ran_out"] = out["elapsed"] < seconds * 0.95
    finally:
        for session in sessions:
            await session.aclose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--web", type=int, default=2, help="web processes")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--server", choices=SHAPES, default=PRODUCTION_HTTP)
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn-gthread worker")
    parser.add_argument(
        "--pool",
        type=int,
        default=0,
        help="open tasks to have ready (default: enough for 150 pairs/s over --seconds, "
        "and at least 40 per client + 400)",
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    args = parser.parse_args()
    django_setup(args.database_url, args.redis_url)
    from apps.accounts.services import api_key_create

    people = company_ensure()
    leads = people["leads"][: args.clients]
    keys = [api_key_create(user=lead, name="bench", actor=None)[1] for lead in leads]
    tasks = open_tasks_ensure(
        count=args.pool or max(400 + 40 * args.clients, int(150 * args.seconds)),
        requesters=people["requesters"],
        run=uuid.uuid4().hex[:8],
    )
    from django.db import connections

    connections.close_all()
    with production_shape(
        database_url=args.database_url,
        redis_url=args.redis_url,
        web=args.web,
        workers=args.workers,
        server=args.server,
        threads=args.threads,
    ) as urls:
        out = asyncio.run(load(urls, keys, tasks, args.seconds))
        backlog = outbox_backlog()
    emit(
        {
            "clients": args.clients,
            "pairs": len(out["pairs"]),
            "pairs_per_s": len(out["pairs"]) / out["elapsed"],
            "request": summary_ms(out["requests"]),
            "pair": summary_ms(out["pairs"]),
            "errors": len(out["errors"]),
            "error_statuses": sorted({str(e) for e in out["errors"]}),
            "ran_out_of_tasks": out["ran_out"],
            "relay": RELAY,
            "relay_backlog": backlog,
            "cpu_ms_per_pair": 1000 * out["busy"] / max(1, len(out["pairs"])),
            "generator_cpu_ms_per_pair": 1000 * out["generator"] / max(1, len(out["pairs"])),
        }
    )


if __name__ == "__main__":
    main()
