"""Part 2, over HTTP: claim + complete by many team leads at once against the production
shape (web processes, PostgreSQL, Redis, Celery workers), from an asyncio load generator
(bench/load_generator.py, aiohttp, in a process and virtual environment of its own).

    python bench/http_load.py --clients 16 --seconds 20 [--web 2] [--workers 2] [--server daphne]

Each client is one team lead with an API key of their own and a share of the open team-lead
tasks: POST claim, then POST complete with the claim's version as If-Match. Clients are
spread over the web servers. Reported: pairs per second, latency per request and per pair.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import uuid
from pathlib import Path

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
from load_generator import loadgen_python
from servers import PRODUCTION_HTTP, SHAPES, production_shape

HERE = Path(__file__).resolve().parent


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


def load(urls: list[str], keys: list[str], tasks: list[int], seconds: float) -> dict:
    """Run the load generator (bench/load_generator.py, in its own process and virtual
    environment) for `seconds`: each client a share of `tasks`, the first two to warm up."""
    clients = len(keys)
    job = {
        "urls": list(urls),
        "keys": keys,
        "shares": [tasks[i::clients] for i in range(clients)],
        "warm": 2,
        "seconds": seconds,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json") as spec:
        json.dump(job, spec)
        spec.flush()
        done = subprocess.run(
            [loadgen_python(), str(HERE / "load_generator.py"), spec.name],
            capture_output=True,
            text=True,
            timeout=seconds + 300,
        )
    if done.returncode != 0:
        raise SystemExit(f"the load generator failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


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
    loadgen_python()  # its virtual environment made, if it must be, before the servers start
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
        out = load(urls, keys, tasks, args.seconds)
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
