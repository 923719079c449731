"""Benchmark: the dashboard's chart queries and the auditors' search on a million tasks.

    .venv/bin/python bench/dashboard.py [--tasks 1000000] [--events 2000000] [--rebuild] [--plans]

Builds (once) a database `approval_dashboard_bench` (BENCH_DATABASE_URL overrides it) with
`--tasks` human tasks over 20 queues of 3 steps each, created over the last 180 days, 85%
of them decided, with wait and work times drawn from a fixed, seeded spread; and `--events`
audit events, 2% of them reassignments. Generated in SQL (generate_series), so a rebuild
takes a minute, and the same every time.

Then times each chart's query (the selector, SQL and Python) 30 times and prints its p50 and
p95, and the plan's shape. It fails (exit 1) when, for a 30-day range or a search, a p95
exceeds --budget-ms or a plan reads the whole tasks or audit table (a 180-day range covers
nearly all the data, and is reported only).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

RUNS = 30


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--rebuild", action="store_true", help="drop and rebuild the benchmark data")
    parser.add_argument("--plans", action="store_true", help="print every query's EXPLAIN ANALYZE")
    parser.add_argument("--budget-ms", type=float, default=1000.0, help="p95 allowed for one chart's query")
    args = parser.parse_args()

    os.environ.setdefault(
        "DATABASE_URL",
        os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/approval_dashboard_bench"),
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    _create_database(os.environ["DATABASE_URL"], drop=args.rebuild)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    from apps.humantasks.models import HumanTask, Queue

    existing = HumanTask.objects.count()
    if 0 < existing < args.tasks:
        print(f"the benchmark database holds {existing} tasks, not {args.tasks}: run with --rebuild")
        return 1
    if existing == 0:
        _build(connection, tasks=args.tasks, events=args.events)

    from apps.accounts.models import User
    from apps.audit.selectors import AuditFilters
    from apps.oversight import selectors

    now = timezone.now()
    days = lambda n: now - timezone.timedelta(days=n)  # noqa: E731
    every_queue = list(Queue.objects.filter(slug__startswith="bench-q").values_list("pk", flat=True))
    three = every_queue[:3]
    auditor = User.objects.get(username="bench-auditor")
    cases = {
        "per step, all queues, 30 days": lambda: selectors.step_figures_query(
            queue_ids=every_queue, since=days(30), until=now
        ),
        "per step, 3 queues, 30 days": lambda: selectors.step_figures_query(
            queue_ids=three, since=days(30), until=now
        ),
        "per step, all queues, 180 days": lambda: selectors.step_figures_query(
            queue_ids=every_queue, since=days(180), until=now
        ),
        "reassignments, all queues, 30 days": lambda: selectors.reassignments_query(
            queue_ids=every_queue, since=days(30), until=now
        ),
        "trend, all queues, 30 days": lambda: selectors.trend_query(
            queue_ids=every_queue, since=days(30), until=now
        ),
        "trend, 3 queues, 180 days": lambda: selectors.trend_query(
            queue_ids=three, since=days(180), until=now
        ),
        "search: events of a business key": lambda: (
            selectors.event_search(user=auditor, filters=AuditFilters(), business_key="BENCH-4242").rows
        ),
        "search: events by action": lambda: (
            selectors.event_search(user=auditor, filters=AuditFilters(actions=("task.reassigned",))).rows
        ),
        "search: events by person": lambda: (
            selectors.event_search(user=auditor, filters=AuditFilters(actor="bench-person-7")).rows
        ),
    }
    failed = False
    print(f"{'query':40} {'p50 ms':>9} {'p95 ms':>9}  plan")
    for name, run in cases.items():
        timings = []
        for _ in range(RUNS):
            auditor.__dict__.pop("_perm_cache", None)
            start = time.perf_counter()
            run()
            timings.append((time.perf_counter() - start) * 1000)
        timings.sort()
        p95 = timings[int(len(timings) * 0.95) - 1]
        plan = _plan(connection, run)
        shape = _shape(plan)
        print(f"{name:40} {statistics.median(timings):9.1f} {p95:9.1f}  {shape}")
        # A range that covers most of the table may rightly be read in full; 30 days may not.
        narrow = "180 days" not in name
        whole_table = "Seq Scan on humantasks_humantask" in plan or "Seq Scan on audit_auditevent" in plan
        if narrow and (p95 > args.budget_ms or whole_table):
            failed = True
            print(plan)
        elif args.plans:
            print(plan)
    return 1 if failed else 0


def _plan(connection, run) -> str:
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        run()
    plans = []
    for query in captured.captured_queries:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + query["sql"])
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    return "\n".join(plans)


def _shape(plan: str) -> str:
    """The scans a plan uses, in a few words."""
    scans = []
    for line in plan.splitlines():
        text = line.strip().lstrip("-> ").strip()
        for kind in ("Index Only Scan", "Index Scan Backward", "Index Scan", "Bitmap Index Scan", "Seq Scan"):
            if text.startswith(kind):
                words = text.split(" using ")
                scans.append(words[1].split(" on ")[0] if len(words) > 1 else text.split(" (")[0])
                scans[-1] = f"{kind.lower()}: {scans[-1]}"
                break
    return "; ".join(dict.fromkeys(scans))


def _create_database(url: str, *, drop: bool) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if drop:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _build(connection, *, tasks: int, events: int) -> None:
    from django.contrib.auth.models import Group, Permission

    from apps.accounts.models import User
    from apps.humantasks.models import Queue
    from apps.humantasks.services import queue_create

    started = time.perf_counter()
    print(f"building {tasks} tasks and {events} audit events ...", flush=True)
    managers, _ = Group.objects.get_or_create(name="bench-managers")
    for i in range(20):
        role, _ = Group.objects.get_or_create(name=f"bench-role-{i}")
        if not Queue.objects.filter(slug=f"bench-q{i}").exists():
            queue_create(slug=f"bench-q{i}", name=f"Bench {i}", role=role, managers=managers, actor=None)
    auditor, _ = User.objects.get_or_create(username="bench-auditor")
    auditor.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    people = [User.objects.get_or_create(username=f"bench-person-{i}")[0].pk for i in range(50)]
    first_queue = min(Queue.objects.filter(slug__startswith="bench-q").values_list("pk", flat=True))
    instances = max(1, tasks // 5)
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(
            """
            INSERT INTO workflows_workflowinstance
                (kind, definition_version, business_key, state, data, created_at, updated_at, version)
            SELECT 'purchase_order', 1, 'BENCH-' || g, 'approved', '{}'::jsonb,
                   now() - (g %% 180) * interval '1 day', now(), 1
            FROM generate_series(1, %s) AS g
            """,
            [instances],
        )
        cursor.execute("SELECT min(id) FROM workflows_workflowinstance")
        first_instance = cursor.fetchone()[0]
        # Wait (opened -> claimed) from minutes to two days, work (claimed -> decided) from
        # minutes to a day, skewed by queue and step, so percentiles and the bottleneck differ.
        cursor.execute(
            """
            INSERT INTO humantasks_humantask
                (instance_id, process_kind, queue_id, step, activation, title, state, priority, due_at,
                 is_confidential, outcome, decision_data, comment, created_at, updated_at, claimed_at,
                 closed_at, version)
            SELECT %s + (g %% %s), 'purchase_order', %s + (g %% 20), 'step_' || ((g / 20) %% 3),
                   md5(g::text)::uuid, 'Task ' || g, t.state, 50, t.created + interval '2 days',
                   false, CASE WHEN t.state = 'completed' THEN 'approve' ELSE '' END, '{}'::jsonb, '',
                   t.created, now(), t.claimed, t.closed, 1
            FROM generate_series(1, %s) AS g,
            LATERAL (SELECT now() - random() * interval '180 days' AS created,
                            random() * (1 + (g %% 20) / 10.0 + (g / 20) %% 3) AS wait_days,
                            random() * 0.6 AS work_days,
                            CASE WHEN random() < 0.85 THEN 'completed'
                                 WHEN random() < 0.5 THEN 'claimed' ELSE 'open' END AS state) AS r,
            LATERAL (SELECT r.created AS created, r.state AS state,
                            CASE WHEN r.state = 'open' THEN NULL
                                 ELSE r.created + r.wait_days * interval '1 day' END AS claimed,
                            CASE WHEN r.state = 'completed'
                                 THEN r.created + (r.wait_days + r.work_days) * interval '1 day'
                            END AS closed) AS t
            """,
            [first_instance, instances, first_queue, tasks],
        )
        cursor.execute("SELECT min(id), max(id) FROM humantasks_humantask")
        first_task, last_task = cursor.fetchone()
        cursor.execute(
            """
            INSERT INTO audit_auditevent
                (chain_key, seq, occurred_at, actor_id, actor_type, actor_label, action, instance_id, task_id,
                 from_state, to_state, data, request_id, prev_hash, hash)
            SELECT 'bench:' || (g / 1000), g, now() - random() * interval '180 days',
                   p.id, 'user', p.username,
                   CASE WHEN g %% 50 = 0 THEN 'task.reassigned' WHEN g %% 2 = 0 THEN 'task.claimed'
                        ELSE 'task.completed' END,
                   %s + (g %% %s), %s + (g %% (%s - %s + 1)), 'open', 'claimed', '{}'::jsonb, '', '',
                   md5(g::text) || md5(g::text)
            FROM generate_series(1, %s) AS g
            JOIN accounts_user p ON p.id = (ARRAY[%s])[1 + g %% %s]
            """.replace("ARRAY[%s]", "ARRAY[" + ",".join(str(pk) for pk in people) + "]"),
            [first_instance, instances, first_task, last_task, first_task, events, len(people)],
        )
        for table in ("workflows_workflowinstance", "humantasks_humantask", "audit_auditevent"):
            cursor.execute(f"VACUUM ANALYZE {table}" if connection.get_autocommit() else f"ANALYZE {table}")
    print(f"built in {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
