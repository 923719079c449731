"""Part 3: the inbox at a million tasks, from code or over HTTP, each filter and sort, with
its PostgreSQL plans.

    python bench/inbox_query.py [--tasks 1000000] [--rebuild] [--http] [--seed 12]

Builds (once; --rebuild starts over) a company of `--tasks` human tasks over 20 queues (10%
open, 10% claimed, the rest closed), written with COPY from a seeded generator, so the same
seed gives the same company in about a minute. A person in 3 of the queues then reads their
inbox (the API's /api/v1/tasks/, a page of 50, through one Daphne server with --http; the
inbox_for selector from code otherwise) for every filter the API offers and the next page.
For each case it reports the page's latency, the merge query's own time in PostgreSQL, and
whether its plan walks an index in inbox order rather than sorting every match.
Exits 1 when a plan sorts every match or a page's median exceeds --budget-ms.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

from common import (
    DEFAULT_REDIS_URL,
    ROOT,  # noqa: F401  (puts the project on sys.path)
    database_create,
    django_setup,
    emit,
    summary_ms,
)
from servers import PRODUCTION_HTTP, SHAPES

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/approval_bench_inbox"
QUEUES = 20
KINDS = ("purchase_order", "account_activation", "employee_onboarding")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=12, help="the generator's seed (default 12)")
    parser.add_argument("--rebuild", action="store_true", help="drop and rebuild the benchmark data")
    parser.add_argument("--http", action="store_true", help="read the pages over HTTP from one web server")
    parser.add_argument(
        "--server",
        choices=SHAPES,
        default=PRODUCTION_HTTP,
        help=f"the web server (default {PRODUCTION_HTTP})",
    )
    parser.add_argument("--web", type=int, default=1, help="its worker processes (default 1)")
    parser.add_argument("--samples", type=int, default=40, help="pages read per case (default 40)")
    parser.add_argument(
        "--passes", type=int, default=4, help="turns the cases take to read their samples (default 4)"
    )
    parser.add_argument(
        "--budget-ms", type=float, default=30.0, help="median allowed for a page (default 30)"
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--plans", action="store_true", help="print every case's plan")
    args = parser.parse_args()
    if args.passes < 1 or args.samples < args.passes:
        parser.error("--passes must be at least 1 and at most --samples")

    database_create(args.database_url, drop=args.rebuild)
    django_setup(args.database_url, args.redis_url)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from apps.accounts.models import User
    from apps.humantasks.models import HumanTask

    existing = HumanTask.objects.count()
    if 0 < existing != args.tasks:
        raise SystemExit(
            f"the benchmark database holds {existing} tasks, not {args.tasks}: run with --rebuild"
        )
    if existing == 0:
        began = time.perf_counter()
        _build(args.tasks, seed=args.seed)
        print(f"built {args.tasks} tasks in {time.perf_counter() - began:.0f} s", flush=True)
    user = User.objects.get(username="bench-user")
    due = datetime(2027, 1, 1, tzinfo=UTC) + timedelta(days=3)
    cases = {
        "3 queues, open+claimed (default)": {},
        "one queue": {"queue": "bench-q1"},
        "state open": {"state": "open"},
        "state claimed": {"state": "claimed"},
        "one process kind": {"kind": "purchase_order"},
        "assignee me": {"assignee": "me"},
        "priority at least 80": {"priority": 80},
        "due before": {"due_before": due.isoformat()},
        "text search": {"q": "order 12345"},
        "next page (cursor)": {"cursor": None},
    }
    results = []
    failed = False
    http = _HttpReader(args) if args.http else None
    try:
        prepared = {}
        for name, params in cases.items():
            filters, after = _filters_for(user, params)
            if "cursor" in params:
                from apps.humantasks.selectors import inbox_for

                after = inbox_for(user=user, filters=filters, limit=50).next_cursor
                params = {"cursor": after.encode()}
            prepared[name] = (params, filters, after)
        # The cases take turns, --passes times, so that a slow minute of a shared machine
        # falls on every case rather than on the few read during it.
        timings: dict[str, list[float]] = {name: [] for name in prepared}
        for turn in range(args.passes):
            share = args.samples // args.passes + (1 if turn < args.samples % args.passes else 0)
            for name, (params, filters, after) in prepared.items():
                timings[name] += (
                    http.read(params, share) if http else _read_in_process(user, filters, after, share)
                )
        for name, (_params, filters, after) in prepared.items():
            sql, plan = _merge_query(connection, user, filters, after)
            sql_ms = _time_sql(connection, sql)
            raw = _raw_union(connection, user, filters, after)
            raw_ms = _time_sql(connection, raw) if raw else float("nan")
            index_walk = "Index" in plan and not _sorts_everything(plan)
            figures = summary_ms(timings[name])
            failed |= not index_walk or figures["p50_ms"] > args.budget_ms
            results.append(
                {
                    "name": name,
                    "http": figures,
                    "sql_ms": sql_ms,
                    "raw_ms": raw_ms,
                    "index_walk": index_walk,
                    "plan": plan,
                }
            )
            print(
                f"{name:34} p50 {figures['p50_ms']:7.2f} ms  p95 {figures['p95_ms']:7.2f} ms  "
                f"SQL {sql_ms:6.2f} ms  raw {raw_ms:6.2f} ms  "
                f"{'index walk' if index_walk else 'SORTS EVERY MATCH'}",
                flush=True,
            )
            if args.plans or not index_walk:
                print(plan)
    finally:
        if http:
            http.close()
    emit({"tasks": args.tasks, "over_http": bool(args.http), "cases": results})
    return 1 if failed else 0


def _filters_for(user, params):
    from apps.humantasks.models import OPEN_STATES
    from apps.humantasks.selectors import InboxFilters

    return (
        InboxFilters(
            queues=(params["queue"],) if "queue" in params else (),
            states=(params["state"],) if "state" in params else OPEN_STATES,
            kinds=(params["kind"],) if "kind" in params else (),
            min_priority=params.get("priority"),
            due_before=datetime.fromisoformat(params["due_before"]) if "due_before" in params else None,
            assignee_id=user.pk if params.get("assignee") == "me" else None,
            text=params.get("q", ""),
        ),
        None,
    )


def _read_in_process(user, filters, after, samples: int) -> list[float]:
    from apps.accounts.models import User
    from apps.humantasks.selectors import inbox_for

    timings = []
    for _ in range(samples):
        fresh = User.objects.get(pk=user.pk)  # no permission cache carried over, as in a new request
        began = time.perf_counter()
        inbox_for(user=fresh, filters=filters, limit=50, after=after)
        timings.append(time.perf_counter() - began)
    return timings


class _HttpReader:
    """One web server on the benchmark's database; pages read with the person's API key."""

    def __init__(self, args: argparse.Namespace) -> None:
        import httpx
        from django.db import connections
        from servers import production_shape

        from apps.accounts.models import User
        from apps.accounts.services import api_key_create

        self.key = api_key_create(user=User.objects.get(username="bench-user"), name="bench", actor=None)[1]
        connections.close_all()
        self.shape = production_shape(
            database_url=args.database_url,
            redis_url=args.redis_url,
            web=args.web,
            workers=0,
            server=args.server,
        )
        url = self.shape.__enter__()[0]
        self.client = httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Api-Key {self.key}"})

    def read(self, params: dict, samples: int) -> list[float]:
        query = {"page_size": 50, **params}
        for _ in range(3):  # warm up
            self.client.get("/api/v1/tasks/", params=query).raise_for_status()
        timings = []
        for _ in range(samples):
            began = time.perf_counter()
            answer = self.client.get("/api/v1/tasks/", params=query)
            timings.append(time.perf_counter() - began)
            answer.raise_for_status()
        return timings

    def close(self) -> None:
        self.client.close()
        self.shape.__exit__(None, None, None)


def _merge_query(connection, user, filters, after) -> tuple[str, str]:
    """The page's merge query (the UNION ALL of per-queue walks) and its EXPLAIN ANALYZE."""
    from django.test.utils import CaptureQueriesContext

    from apps.humantasks.selectors import inbox_for

    with CaptureQueriesContext(connection) as captured:
        inbox_for(user=user, filters=filters, limit=50, after=after)
    sql = next(
        q["sql"]
        for q in captured.captured_queries
        if '"humantasks_humantask"."due_at"' in q["sql"] and "LIMIT" in q["sql"]
    )
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql)
        return sql, "\n".join(row[0] for row in cursor.fetchall())


def _raw_union(connection, user, filters, after) -> str | None:
    """The same page as a person would write it by hand for this filter: the UNION ALL of one
    ordered, limited walk per visible queue (as pgbench's inbox_union.sql), without what the
    product adds (tasks granted one by one, the LATERAL that compiles one branch for any
    number of queues). Timed beside the product's query, so a filter is compared with the
    same filter, not with the unfiltered walk. Its values are quoted into the text, as in the
    product's statement timed beside it, so that both are planned knowing them (a partial
    index's predicate cannot be proven from a parameter). None when no queue is visible."""
    import psycopg

    from apps.humantasks.selectors import queues_visible_to

    queues = queues_visible_to(user=user)
    if filters.queues:
        queues = queues.filter(slug__in=filters.queues)
    where, params = ["state = ANY(%s)", "NOT is_confidential"], [list(filters.states)]
    if filters.kinds:
        where.append("process_kind = ANY(%s)")
        params.append(list(filters.kinds))
    if filters.assignee_id is not None:
        where.append("assignee_id = %s")
        params.append(filters.assignee_id)
    if filters.min_priority is not None:
        where.append("priority >= %s")
        params.append(filters.min_priority)
    if filters.due_before is not None:
        where.append("due_at < %s")
        params.append(filters.due_before)
    if filters.text:
        # As icontains writes it: the text's own wildcards escaped.
        escaped = filters.text.upper().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append("upper(title) LIKE %s")
        params.append(f"%{escaped}%")
    if after is not None:
        where.append("(priority < %s OR (priority = %s AND (due_at > %s OR (due_at = %s AND id > %s))))")
        params += [after.priority, after.priority, after.due_at, after.due_at, after.id]
    order = "ORDER BY priority DESC, due_at, id LIMIT 51"
    condition = " AND ".join(["queue_id = %s", *where])
    branch = f"(SELECT id, priority, due_at FROM humantasks_humantask WHERE {condition} {order})"
    queue_ids = list(queues.values_list("pk", flat=True))
    if not queue_ids:
        return None
    sql = f"SELECT * FROM ({' UNION ALL '.join([branch] * len(queue_ids))}) AS page {order}"
    values = [value for queue_id in queue_ids for value in (queue_id, *params)]
    connection.ensure_connection()
    return psycopg.ClientCursor(connection.connection).mogrify(sql, values)


def _time_sql(connection, sql: str, repeats: int = 20) -> float:
    """Median milliseconds of the query from this client, as pgbench times the raw one."""
    timings = []
    with connection.cursor() as cursor:
        for _ in range(repeats):
            began = time.perf_counter()
            cursor.execute(sql)
            cursor.fetchall()
            timings.append(time.perf_counter() - began)
    return 1000 * statistics.median(timings)


def _sorts_everything(plan: str, *, page: int = 50) -> bool:
    """A Sort directly over a sequential scan, or over a bitmap scan that hands it more than
    ten pages' worth of rows: every match of a filter sorted, rather than the few rows of an
    index walk (the per-queue walks' merge) or of a selective index (the person's own tasks,
    a title search's trigram matches)."""
    lines = plan.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("->  Sort") or line.strip().startswith("Sort"):
            below = next((nxt.strip() for nxt in lines[i + 1 :] if nxt.strip().startswith("->")), "")
            if "Seq Scan" in below:
                return True
            rows = re.search(r"rows=(\d+)", below)
            if "Bitmap Heap Scan" in below and rows and int(rows.group(1)) > 10 * page:
                return True
    return False


def _build(count: int, *, seed: int) -> None:
    """Roles, queues and the person; then instances and tasks with COPY, from a seeded generator."""
    from django.contrib.auth.models import Group
    from django.db import connection

    from apps.accounts.models import User
    from apps.humantasks.models import Queue
    from apps.humantasks.services import queue_create

    managers, _ = Group.objects.get_or_create(name="bench-managers")
    queues = []
    for i in range(QUEUES):
        role, _ = Group.objects.get_or_create(name=f"bench-role-{i}")
        queue = Queue.objects.filter(slug=f"bench-q{i}").first() or queue_create(
            slug=f"bench-q{i}", name=f"Bench {i}", role=role, managers=managers, actor=None
        )
        queues.append(queue.pk)
    user, _ = User.objects.get_or_create(username="bench-user")
    user.groups.set(Group.objects.filter(name__in=["bench-role-1", "bench-role-2", "bench-role-3"]))
    others = [User.objects.get_or_create(username=f"bench-worker{i}")[0].pk for i in range(20)]

    rng = random.Random(seed)
    now = datetime(2027, 1, 1, tzinfo=UTC)
    instances = max(1, count // 100)
    connection.ensure_connection()
    raw = connection.connection  # psycopg 3: COPY ... FROM STDIN with write_row
    with raw.cursor() as cursor:
        with cursor.copy(
            "COPY workflows_workflowinstance (kind, definition_version, business_key, state, data,"
            " created_at, updated_at, version) FROM STDIN"
        ) as copy:
            for g in range(instances):
                copy.write_row((KINDS[g % 3], 1, f"BENCH-{g}", "team_lead_review", "{}", now, now, 1))
        cursor.execute("SELECT min(id) FROM workflows_workflowinstance")
        first_instance = cursor.fetchone()[0]
        with cursor.copy(
            "COPY humantasks_humantask (instance_id, process_kind, queue_id, step, activation, title, state,"
            " assignee_id, claimed_at, priority, due_at, is_confidential, outcome, decision_data, comment,"
            " created_at, updated_at, version) FROM STDIN"
        ) as copy:
            for g in range(count):
                instance = g % instances
                roll = rng.random()
                state = "open" if roll < 0.1 else "claimed" if roll < 0.2 else "completed"
                assignee = None
                if state == "claimed":
                    assignee = user.pk if rng.random() < 0.05 else rng.choice(others)
                copy.write_row(
                    (
                        first_instance + instance,
                        KINDS[instance % 3],
                        queues[rng.randrange(QUEUES)],
                        "bench_step",
                        uuid.UUID(int=rng.getrandbits(128)),
                        f"Approve order {g}",
                        state,
                        assignee,
                        now if assignee else None,
                        rng.randrange(101),
                        now + timedelta(minutes=rng.randrange(10_000)),
                        False,
                        "",
                        "{}",
                        "",
                        now,
                        now,
                        1,
                    )
                )
    # VACUUM as well as ANALYZE: a table that autovacuum has visited (any live one) has its
    # visibility map set, so counts can be answered from an index alone, as in production.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE humantasks_humantask")
        cursor.execute("VACUUM ANALYZE workflows_workflowinstance")


if __name__ == "__main__":
    raise SystemExit(main())
