"""Part 1, from code in one process: start purchase orders, claim + complete their team-lead
tasks through the task services, and count the SQL statements of each operation.

    python bench/code_ops.py --n 300 [--database-url URL] [--redis-url URL]

Measured the way bench-peers/viewflow measures its smallest flow: the requester and the lead
are read afresh for every operation (no permission cache carried over, as in a new request),
each service owns its transaction, and the after-commit work (the outbox relay publishing to
Redis) is part of the time: in this process's relay thread (BENCH_OUTBOX_RELAY=thread), or in
a relay process beside it, as docker/compose.yaml runs it (the default). The rows the relay has
not sent when a timed section ends are reported (`*_relay_backlog`). The end-to-end rate is
1 / (1/start + 1/claim-complete).
"""

from __future__ import annotations

import argparse
import time
import uuid

from common import (
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    RELAY,
    company_ensure,
    django_setup,
    emit,
    history_ensure,
    order_data,
    outbox_backlog,
    relay_process,
    summary_ms,
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=300, help="orders started, then decided (default 300)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--profile", help="write a pyinstrument HTML profile of claim + complete here")
    parser.add_argument(
        "--history",
        type=int,
        default=0,
        help="past purchase orders the company holds before measuring (added once, with COPY; default 0)",
    )
    args = parser.parse_args()
    django_setup(args.database_url, args.redis_url)
    people = company_ensure()
    args.history = history_ensure(args.history, people) if args.history else 0
    with relay_process(args.database_url, args.redis_url):
        measure(args, people)


def measure(args: argparse.Namespace, people: dict) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.accounts.models import User
    from apps.humantasks.models import HumanTask
    from apps.humantasks.services import task_claim, task_complete
    from apps.workflows.services import instance_start

    requesters = [u.pk for u in people["requesters"]]
    leads = [u.pk for u in people["leads"]]
    run = uuid.uuid4().hex[:8]

    def start(i: int) -> int:
        requester = User.objects.get(pk=requesters[i % len(requesters)])
        instance = instance_start(
            kind="purchase_order", business_key=f"BENCH-{run}-{i}", data=order_data(i), actor=requester
        )
        return instance.pk

    def decide(i: int, task_id: int) -> None:
        lead = User.objects.get(pk=leads[i % len(leads)])
        claimed = task_claim(task=task_id, actor=lead)
        task_complete(task=task_id, actor=lead, outcome="approve", expected_version=claimed.version)

    # Warm up: the first calls import modules and fill Django's caches.
    for i in range(5):
        instance_id = start(-1 - i)
        decide(i, HumanTask.objects.get(instance_id=instance_id).pk)

    latencies, instance_ids = [], []
    began = time.perf_counter()
    for i in range(args.n):
        t = time.perf_counter()
        instance_ids.append(start(i))
        latencies.append(time.perf_counter() - t)
    start_rate = args.n / (time.perf_counter() - began)
    start_backlog = outbox_backlog()
    start_latency = summary_ms(latencies)

    task_ids = dict(HumanTask.objects.filter(instance_id__in=instance_ids).values_list("instance_id", "pk"))
    tasks = [task_ids[pk] for pk in instance_ids]
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler()
        profiler.start()
    latencies = []
    began = time.perf_counter()
    for i, task_id in enumerate(tasks):
        t = time.perf_counter()
        decide(i, task_id)
        latencies.append(time.perf_counter() - t)
    decide_rate = len(tasks) / (time.perf_counter() - began)
    decide_backlog = outbox_backlog()
    if profiler is not None:
        profiler.stop()
        with open(args.profile, "w") as out:
            out.write(profiler.output_html())
    decide_latency = summary_ms(latencies)
    approved = HumanTask.objects.filter(pk__in=tasks, state="completed").count()
    if approved != len(tasks):
        raise SystemExit(f"only {approved} of {len(tasks)} tasks completed")

    # SQL statements of one more of each, outside the timings. The people are read before
    # counting: a request's user comes from its session or key either way.
    requester = User.objects.get(pk=requesters[0])
    with CaptureQueriesContext(connection) as start_sql:
        instance = instance_start(
            kind="purchase_order", business_key=f"BENCH-{run}-count", data=order_data(0), actor=requester
        )
    task_id = HumanTask.objects.get(instance=instance).pk
    lead = User.objects.get(pk=leads[0])
    with CaptureQueriesContext(connection) as claim_sql:
        claimed = task_claim(task=task_id, actor=lead)
    with CaptureQueriesContext(connection) as complete_sql:
        task_complete(task=task_id, actor=lead, outcome="approve", expected_version=claimed.version)
    emit(
        {
            "relay": RELAY,
            "history": args.history,
            "start_relay_backlog": start_backlog,
            "claim_complete_relay_backlog": decide_backlog,
            "start_per_s": start_rate,
            "start_latency": start_latency,
            "claim_complete_per_s": decide_rate,
            "claim_complete_latency": decide_latency,
            "end_to_end_per_s": 1 / (1 / start_rate + 1 / decide_rate),
            "start_sql": len(start_sql.captured_queries),
            "claim_sql": len(claim_sql.captured_queries),
            "complete_sql": len(complete_sql.captured_queries),
            "claim_complete_sql": len(claim_sql.captured_queries) + len(complete_sql.captured_queries),
            "start_statements": [q["sql"][:160] for q in start_sql.captured_queries],
            "claim_complete_statements": [
                q["sql"][:160] for q in claim_sql.captured_queries + complete_sql.captured_queries
            ],
        }
    )


if __name__ == "__main__":
    main()
