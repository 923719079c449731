"""Benchmark: the inbox query on a million tasks, with its PostgreSQL plans.

    .venv/bin/python bench/inbox_query.py [--tasks 1000000] [--rebuild]

Builds (once) a database `approval_inbox_bench` (BENCH_DATABASE_URL overrides it) with
`--tasks` human tasks spread over 20 queues, 10% of them open, then times inbox_for for a
person in 3 queues, with and without filters, and prints each query's EXPLAIN ANALYZE.
It fails (exit 1) when a page takes longer than --budget-ms or a plan sorts every match
instead of walking the inbox index.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--rebuild", action="store_true", help="drop and rebuild the benchmark data")
    parser.add_argument(
        "--budget-ms", type=float, default=30.0, help="median time allowed for a whole page (SQL and Python)"
    )
    args = parser.parse_args()

    os.environ.setdefault(
        "DATABASE_URL",
        os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/approval_inbox_bench"),
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    _create_database(os.environ["DATABASE_URL"], drop=args.rebuild)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from django.contrib.auth.models import Group

    from apps.accounts.models import User
    from apps.humantasks.models import HumanTask, Queue
    from apps.humantasks.selectors import INBOX_SORTS, InboxFilters, inbox_for
    from apps.humantasks.services import queue_create

    existing = HumanTask.objects.count()
    if 0 < existing < args.tasks:
        print(f"the benchmark database holds {existing} tasks, not {args.tasks}: run with --rebuild")
        return 1
    if existing == 0:
        _build(args.tasks, connection, queue_create, Group, Queue, User)

    user = User.objects.get(username="bench-user")
    cases = {
        "3 queues, open, first page": InboxFilters(),
        "3 queues, one process kind": InboxFilters(kinds=("purchase_order",)),
        "1 queue": InboxFilters(queues=("bench-q1",)),
        "3 queues, min priority 80": InboxFilters(min_priority=80),
        "text search": InboxFilters(text="order 12345"),
        "3 queues, due soonest": (InboxFilters(), "due"),
        "3 queues, oldest first": (InboxFilters(), "age"),
    }
    failed = False
    for name, case in cases.items():
        filters, sort = case if isinstance(case, tuple) else (case, "priority")
        sort = INBOX_SORTS[sort]
        timings = []
        for _ in range(15):
            user = User.objects.get(pk=user.pk)  # drop Django's per-object permission cache
            start = time.perf_counter()
            page = inbox_for(user=user, filters=filters, limit=50, sort=sort)
            timings.append((time.perf_counter() - start) * 1000)
        median = statistics.median(timings)
        print(f"{name:32} {len(page.tasks):3} tasks  median {median:7.2f} ms  (min {min(timings):.2f})")
        plan = _explain_merge(connection, user, filters, inbox_for, sort)
        sorts_everything = "Sort" in plan and "Index" not in plan
        if median > args.budget_ms or sorts_everything:
            failed = True
            print(plan)
    if "--plans" in sys.argv:
        print(_explain_merge(connection, user, InboxFilters(), inbox_for, INBOX_SORTS["priority"]))
    return 1 if failed else 0


def _explain_merge(connection, user, filters, inbox_for, sort) -> str:
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        inbox_for(user=user, filters=filters, limit=50, sort=sort)
    column = f'"humantasks_humantask"."{sort.fields[0]}"'
    merge_sql = next(
        q["sql"] for q in captured.captured_queries if column in q["sql"] and "LIMIT" in q["sql"]
    )
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + merge_sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def _create_database(url: str, *, drop: bool) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if drop:
            # The audit trigger refuses TRUNCATE even here: a fresh database is the way to start over.
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _build(count, connection, queue_create, Group, Queue, User) -> None:
    print(f"building {count} tasks ...", flush=True)
    managers, _ = Group.objects.get_or_create(name="bench-managers")
    queues = []
    for i in range(20):
        role, _ = Group.objects.get_or_create(name=f"bench-role-{i}")
        queue = Queue.objects.filter(slug=f"bench-q{i}").first() or queue_create(
            slug=f"bench-q{i}", name=f"Bench {i}", role=role, managers=managers, actor=None
        )
        queues.append(queue)
    user, _ = User.objects.get_or_create(username="bench-user")
    user.groups.set(Group.objects.filter(name__in=["bench-role-1", "bench-role-2", "bench-role-3"]))
    first_queue = min(q.pk for q in queues)
    instances = max(1, count // 100)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO workflows_workflowinstance
                (kind, definition_version, business_key, state, data, created_at, updated_at, version)
            SELECT CASE WHEN g %% 3 = 0 THEN 'purchase_order' WHEN g %% 3 = 1 THEN 'account_activation'
                        ELSE 'employee_onboarding' END,
                   1, 'BENCH-' || g, 'team_lead_review', '{}'::jsonb, now(), now(), 1
            FROM generate_series(1, %s) AS g
            """,
            [instances],
        )
        cursor.execute(
            """
            INSERT INTO humantasks_humantask
                (instance_id, process_kind, queue_id, step, activation, title, state, priority, due_at,
                 is_confidential, outcome, decision_data, comment, created_at, updated_at, version)
            SELECT 1 + (g %% %s),
                   CASE WHEN g %% 3 = 0 THEN 'purchase_order' WHEN g %% 3 = 1 THEN 'account_activation'
                        ELSE 'employee_onboarding' END,
                   %s + (g %% 20), 'bench_step', md5(g::text)::uuid, 'Approve order ' || g,
                   CASE WHEN (g / 20) %% 10 = 0 THEN 'open'
                        WHEN (g / 20) %% 10 = 1 THEN 'claimed' ELSE 'completed' END,
                   (g::bigint * 7919) %% 101, now() + ((g::bigint * 104729) %% 10000) * interval '1 minute',
                   false, '', '{}'::jsonb, '', now(), now(), 1
            FROM generate_series(1, %s) AS g
            """,
            [instances, first_queue, count],
        )
        cursor.execute("ANALYZE humantasks_humantask")


if __name__ == "__main__":
    sys.exit(main())
