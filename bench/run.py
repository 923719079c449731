# ruff: noqa: E501  (the report's table rows read best on one line each)
"""The benchmark suite: each figure of the project beside the same work done by the raw
database (pgbench, same transaction shape) and by django-viewflow, with the ratios, in one
run. Exits 1 when a figure misses its target (docs/performance.md lists them).

    .venv/bin/python bench/run.py                    # every part, default sizes (about 25 minutes)
    .venv/bin/python bench/run.py --parts code --rounds 3 --n 200
    .venv/bin/python bench/run.py --parts inbox --inbox-tasks 1000000

Parts: code (from code, one process, vs viewflow and pgbench; and again in a company with
--history past orders, against a new one), http (claim + complete over
HTTP at 1, 4, 16 clients against the web processes, Redis and Celery workers), inbox (the
API inbox page of 50 at --inbox-tasks tasks, each filter and sort, with EXPLAIN),
activations (account activations' automated steps on 2 workers), export (the audit
export of --export-events events: rows/s, peak RSS).

The CPU of a shared machine drifts several-fold within an hour, so the project and its
baselines run in alternating rounds and every ratio is the median of per-round ratios;
never compare a figure with one from another run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, ROOT, database_create, read_result
from peers import DEFAULT_PEERS, RawDatabase, Viewflow
from servers import PRODUCTION_HTTP, SHAPES

HERE = Path(__file__).resolve().parent
PARTS = ("code", "http", "inbox", "activations", "export")

# The targets (issue "Fast where it counts"); ratios, so they hold on any machine.
TARGETS = {
    "end_to_end_vs_viewflow": 3.0,  # at least
    "start_sql": 12,  # at most
    "claim_complete_sql": 20,  # at most
    # at least: claim + complete in a company with --history past orders, over a new company's
    # (ours: decisions must stay index-backed as the history grows)
    "history_vs_new_claim_complete": 0.8,
    "http_p95_ms_16": 50.0,  # at most, per request at 16 clients
    "http_throughput_vs_raw_16": 0.10,  # at least, pairs/s over pgbench's tx/s at 16 clients
    "inbox_p95_ms": 25.0,  # at most
    "inbox_sql_vs_raw_union": 2.0,  # at most
    "export_rss_mb": 150.0,  # at most
}


class Report:
    def __init__(self) -> None:
        self.misses: list[str] = []
        self.figures: dict[str, Any] = {}

    def line(self, text: str) -> None:
        print(text, flush=True)

    def check(
        self, name: str, value: float, *, at_least: float | None = None, at_most: float | None = None
    ) -> str:
        ok = (at_least is None or value >= at_least) and (at_most is None or value <= at_most)
        bound = f">= {at_least:g}" if at_least is not None else f"<= {at_most:g}"
        if not ok:
            self.misses.append(f"{name}: {value:.3g} (target {bound})")
        return f"target {bound}: {'ok' if ok else 'MISSED'}"


def part(
    script: str, *args: str, env_url: tuple[str, str], tree: Path | None = None, relay: str = "process"
) -> dict[str, Any]:
    """Run one part as its own process; `tree` runs another checkout's code (its bench/ folder);
    `relay` says where the outbox is relayed (common.RELAY; a tree older than the relay process
    has only its thread)."""
    database_url, redis_url = env_url
    here, root = (tree / "bench", tree) if tree else (HERE, ROOT)
    command = [
        sys.executable,
        str(here / script),
        "--database-url",
        database_url,
        "--redis-url",
        redis_url,
        *args,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=root, env={**os.environ, "BENCH_OUTBOX_RELAY": relay}
    )
    # A part that measured but judged its own figures (inbox_query exits 1 on a sorting plan)
    # still reports them; only a part that reports nothing failed.
    if "BENCH-RESULT " not in done.stdout:
        raise SystemExit(f"{script} failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}")
    return read_result(done.stdout)


def median(values: list[float]) -> float:
    return statistics.median(values)


def run_code(args: argparse.Namespace, report: Report, raw: RawDatabase, viewflow: Viewflow) -> None:
    report.line("\n== 1. From code, one process: purchase order of 1,200 EUR vs viewflow's smallest flow ==")
    rounds = []
    history_url = args.database_url + "_history"
    if args.history:
        database_create(history_url, drop=args.rebuild)
    for r in range(args.rounds):
        ours = part(
            "code_ops.py", "--n", str(args.n), env_url=(args.database_url, args.redis_url), relay=args.relay
        )
        if args.history:
            aged = part(
                "code_ops.py",
                "--n",
                str(args.n),
                "--history",
                str(args.history),
                env_url=(history_url, args.redis_url),
                relay=args.relay,
            )
            ours["aged"] = aged
            report.line(
                f"round {r + 1}: ours with {aged['history']:,} past orders: start {aged['start_per_s']:.1f}/s, "
                f"claim+complete {aged['claim_complete_per_s']:.1f}/s, end-to-end {aged['end_to_end_per_s']:.1f}/s"
            )
        if args.baseline_tree:
            before = part(
                "code_ops.py",
                "--n",
                str(args.n),
                env_url=(args.database_url, args.redis_url),
                tree=args.baseline_tree,
                relay=args.baseline_relay or args.relay,
            )
            ours["before"] = before
            report.line(
                f"round {r + 1}: before (--baseline-tree, relay {before.get('relay', 'thread')}) start {before['start_per_s']:.1f}/s, claim+complete "
                f"{before['claim_complete_per_s']:.1f}/s, end-to-end {before['end_to_end_per_s']:.1f}/s, "
                f"SQL {before['start_sql']} + {before['claim_complete_sql']}"
            )
        theirs = viewflow.run(n=args.n)
        pg = raw.run("approve.sql", clients=1, seconds=args.pg_seconds)
        rounds.append((ours, theirs, pg))
        report.line(
            f"round {r + 1}: ours (relay {ours['relay']}; left unsent at the end: "
            f"{ours['start_relay_backlog']} + {ours['claim_complete_relay_backlog']}) start {ours['start_per_s']:.1f}/s, claim+complete {ours['claim_complete_per_s']:.1f}/s, "
            f"end-to-end {ours['end_to_end_per_s']:.1f}/s | viewflow {theirs['start_per_s']:.1f}/s, "
            f"{theirs['claim_complete_per_s']:.1f}/s, {theirs['end_to_end_per_s']:.1f}/s | "
            f"pgbench approve c1 {pg['tps']:.0f} tx/s"
        )
    ours, theirs, pg = rounds[-1]
    rows = [
        ("start", "start_per_s", "start/s"),
        ("claim + complete", "claim_complete_per_s", "pairs/s"),
        ("orders end to end", "end_to_end_per_s", "orders/s"),
    ]
    report.line(
        f"{'per operation':20} {'ours (median)':>14} {'viewflow':>10} {'ours/viewflow':>14} {'raw tx/s':>9} {'ours/raw':>9}"
    )
    for label, key, _unit in rows:
        ratio = median([o[key] / t[key] for o, t, _ in rounds])
        raw_ratio = median([o[key] / p["tps"] for o, _, p in rounds])
        report.line(
            f"{label:20} {median([o[key] for o, _, _ in rounds]):14.1f} {median([t[key] for _, t, _ in rounds]):10.1f} "
            f"{ratio:13.2f}x {median([p['tps'] for _, _, p in rounds]):9.0f} {raw_ratio:8.3f}x"
        )
        report.figures[f"code_{key}_vs_viewflow"] = ratio
    if args.baseline_tree:
        for label, key, _unit in rows:
            ratio = median([o[key] / o["before"][key] for o, _, _ in rounds])
            report.line(f"{label:20} now / before: {ratio:.2f}x (median of {len(rounds)} rounds)")
            report.figures[f"code_{key}_vs_before"] = ratio
    if args.history:
        for label, key, _unit in rows:
            ratio = median([o["aged"][key] / o[key] for o, _, _ in rounds])
            report.line(f"{label:20} with {args.history:,} past orders / a new company: {ratio:.2f}x")
            report.figures[f"code_{key}_history_vs_new"] = ratio
        aged = report.figures["code_claim_complete_per_s_history_vs_new"]
        report.line(
            f"claim + complete with history vs new: {aged:.2f}x  "
            f"{report.check('claim+complete with history vs new company', aged, at_least=TARGETS['history_vs_new_claim_complete'])}"
        )
    e2e = report.figures["code_end_to_end_per_s_vs_viewflow"]
    report.line(
        f"end-to-end vs viewflow: {e2e:.2f}x  {report.check('end-to-end vs viewflow', e2e, at_least=TARGETS['end_to_end_vs_viewflow'])}"
    )
    report.line(
        f"SQL statements: start {ours['start_sql']} (viewflow {theirs['start_sql']:.0f}) "
        f"{report.check('start SQL statements', ours['start_sql'], at_most=TARGETS['start_sql'])}; "
        f"claim+complete {ours['claim_complete_sql']} (claim {ours['claim_sql']} + complete {ours['complete_sql']}; "
        f"viewflow {theirs['claim_complete_sql']:.0f}) "
        f"{report.check('claim+complete SQL statements', ours['claim_complete_sql'], at_most=TARGETS['claim_complete_sql'])}"
    )
    report.line(f"raw transaction (pgbench approve.sql, c1): {pg['tps']:.0f} tx/s, p50 {pg['p50_ms']:.2f} ms")
    if args.verbose:
        report.line("start statements:\n  " + "\n  ".join(ours["start_statements"]))
        report.line("claim+complete statements:\n  " + "\n  ".join(ours["claim_complete_statements"]))
    report.figures["code_rounds"] = [[o, t, p] for o, t, p in rounds]


def run_http(args: argparse.Namespace, report: Report, raw: RawDatabase) -> None:
    if args.compare_servers:
        run_serving_shapes(args, report, raw)
        return
    report.line(
        f"\n== 2. Over HTTP: claim + complete, {args.web} web process(es) ({args.server}), Redis, {args.workers} Celery workers =="
    )
    report.line(
        f"{'clients':>7} {'pairs/s':>8} {'req p50':>8} {'req p95':>8} {'req p99':>8} {'pair p95':>9} {'errors':>6} {'raw tx/s':>9} {'ours/raw':>9}"
    )
    results = {}
    for clients in args.clients:
        ours = part(
            "http_load.py",
            "--clients",
            str(clients),
            "--seconds",
            str(args.http_seconds),
            "--web",
            str(args.web),
            "--workers",
            str(args.workers),
            "--server",
            args.server,
            "--threads",
            str(args.threads),
            env_url=(args.database_url, args.redis_url),
            relay=args.relay,
        )
        pg = raw.run("approve.sql", clients=clients, seconds=args.pg_seconds)
        if args.baseline_tree:
            before = part(
                "http_load.py",
                "--clients",
                str(clients),
                "--seconds",
                str(args.http_seconds),
                "--web",
                str(args.web),
                "--workers",
                str(args.workers),
                "--server",
                args.server,
                env_url=(args.database_url, args.redis_url),
                tree=args.baseline_tree,
                relay=args.baseline_relay or args.relay,
            )
            ours["before"] = before
            cost = ""
            if "cpu_ms_per_pair" in before:  # a tree older than the figure does not report it
                cost = (
                    f", CPU per pair {before['cpu_ms_per_pair']:.1f} -> {ours['cpu_ms_per_pair']:.1f} ms, "
                    f"before/now {before['cpu_ms_per_pair'] / ours['cpu_ms_per_pair']:.2f}x"
                )
            report.line(
                f"{'before':>7} {before['pairs_per_s']:8.1f} {before['request']['p50_ms']:8.1f} {before['request']['p95_ms']:8.1f} "
                f"{before['request']['p99_ms']:8.1f} {before['pair']['p95_ms']:9.1f} {before['errors']:6}   (--baseline-tree, "
                f"now/before throughput {ours['pairs_per_s'] / before['pairs_per_s']:.2f}x{cost})"
            )
        ratio = ours["pairs_per_s"] / pg["tps"]
        results[clients] = (ours, pg, ratio)
        report.line(
            f"{clients:7} {ours['pairs_per_s']:8.1f} {ours['request']['p50_ms']:8.1f} {ours['request']['p95_ms']:8.1f} "
            f"{ours['request']['p99_ms']:8.1f} {ours['pair']['p95_ms']:9.1f} {ours['errors']:6} {pg['tps']:9.0f} {ratio:8.3f}x"
            f"   CPU per pair {ours['cpu_ms_per_pair']:.1f} ms (+ {ours['generator_cpu_ms_per_pair']:.1f} the load generator's)"
        )
    if 16 in results:
        ours, pg, ratio = results[16]
        report.line(
            f"16 clients: request p95 {ours['request']['p95_ms']:.1f} ms {report.check('HTTP p95 at 16 clients (ms)', ours['request']['p95_ms'], at_most=TARGETS['http_p95_ms_16'])}"
        )
        report.line(
            f"16 clients: throughput vs raw {ratio:.3f} {report.check('HTTP throughput vs raw at 16 clients', ratio, at_least=TARGETS['http_throughput_vs_raw_16'])}"
        )
    report.figures["http"] = {str(c): [o, p, r] for c, (o, p, r) in results.items()}


def run_serving_shapes(args: argparse.Namespace, report: Report, raw: RawDatabase) -> None:
    """Each serving shape of --compare-servers at each client count, the shapes interleaved
    (and pgbench beside them) so a drift of the shared CPU touches every shape alike."""
    shapes = [_shape(spec) for spec in args.compare_servers.split(",")]
    report.line(
        f"\n== 2b. Serving shapes: claim + complete over HTTP, {args.workers} Celery workers, "
        f"{args.http_seconds} s per run, {args.rounds} round(s) =="
    )
    report.line(
        f"{'shape':24} {'clients':>7} {'pairs/s':>8} {'req p50':>8} {'req p95':>8} {'req p99':>8} "
        f"{'errors':>6} {'raw tx/s':>9} {'ours/raw':>9}"
    )
    for clients in args.clients:
        for round_ in range(args.rounds):
            pg = raw.run("approve.sql", clients=clients, seconds=args.pg_seconds)
            # Each round starts one shape later, so no shape always runs first (or last).
            for label, server, web, threads in (
                shapes[round_ % len(shapes) :] + shapes[: round_ % len(shapes)]
            ):
                ours = part(
                    "http_load.py",
                    "--clients",
                    str(clients),
                    "--seconds",
                    str(args.http_seconds),
                    "--web",
                    str(web),
                    "--threads",
                    str(threads),
                    "--workers",
                    str(args.workers),
                    "--server",
                    server,
                    env_url=(args.database_url, args.redis_url),
                    relay=args.relay,
                )
                ratio = ours["pairs_per_s"] / pg["tps"]
                report.line(
                    f"{label:24} {clients:7} {ours['pairs_per_s']:8.1f} {ours['request']['p50_ms']:8.1f} "
                    f"{ours['request']['p95_ms']:8.1f} {ours['request']['p99_ms']:8.1f} {ours['errors']:6} "
                    f"{pg['tps']:9.0f} {ratio:8.3f}x"
                )
                report.figures.setdefault("servers", []).append([label, clients, round_, ours, pg["tps"]])
    report.line(f"medians over {args.rounds} round(s):")
    for clients in args.clients:
        for label, *_ in shapes:
            runs = [
                (o, tps) for name, c, _r, o, tps in report.figures["servers"] if (name, c) == (label, clients)
            ]
            report.line(
                f"{label:24} {clients:7} {median([o['pairs_per_s'] for o, _ in runs]):8.1f} "
                f"{median([o['request']['p50_ms'] for o, _ in runs]):8.1f} "
                f"{median([o['request']['p95_ms'] for o, _ in runs]):8.1f} "
                f"{median([o['request']['p99_ms'] for o, _ in runs]):8.1f} {sum(o['errors'] for o, _ in runs):6} "
                f"{median([tps for _, tps in runs]):9.0f} {median([o['pairs_per_s'] / tps for o, tps in runs]):8.3f}x"
            )


def _shape(spec: str) -> tuple[str, str, int, int]:
    """'gunicorn-gthread:2x4' -> (label, server, processes, threads); 'daphne:4' -> 4 processes."""
    server, _, size = spec.strip().partition(":")
    processes, _, threads = (size or "1").partition("x")
    if server not in SHAPES:
        raise SystemExit(f"--compare-servers: unknown server {server!r} (one of {', '.join(SHAPES)})")
    return spec.strip(), server, int(processes), int(threads or 4)


def run_inbox(args: argparse.Namespace, report: Report, raw: RawDatabase) -> None:
    report.line(f"\n== 3. Inbox page of 50 over HTTP at {args.inbox_tasks:,} tasks ==")
    ours = part(
        "inbox_query.py",
        "--tasks",
        str(args.inbox_tasks),
        "--http",
        "--samples",
        str(args.inbox_samples),
        *(["--rebuild"] if args.rebuild else []),
        env_url=(args.database_url + "_inbox", args.redis_url),
    )
    union = raw.run("inbox_union.sql", clients=1, seconds=args.pg_seconds)
    report.line(
        f"pgbench's raw UNION ALL of 3 queue walks (its own 1M-task table): p50 {union['p50_ms']:.2f} ms, "
        f"p95 {union['p95_ms']:.2f} ms"
    )
    # Each case's SQL is judged against the raw UNION ALL written by hand for the same filter
    # on the same data (inbox_query._raw_union), timed by the same client in the same run: the
    # unfiltered walk above says nothing of what a title search or "assigned to me" must read.
    report.line(
        f"{'case':34} {'HTTP p50':>8} {'HTTP p95':>8} {'SQL ms':>7} {'raw ms':>7} {'SQL/raw':>8} "
        f"{'vs pgbench':>10} index walk"
    )
    worst_p95, worst_sql = 0.0, 0.0
    for case in ours["cases"]:
        sql_ratio = case["sql_ms"] / case["raw_ms"]
        worst_p95, worst_sql = max(worst_p95, case["http"]["p95_ms"]), max(worst_sql, sql_ratio)
        walks = "yes" if case["index_walk"] else "NO"
        if not case["index_walk"]:
            report.misses.append(f"inbox {case['name']}: its plan does not walk the inbox index")
        report.line(
            f"{case['name']:34} {case['http']['p50_ms']:8.1f} {case['http']['p95_ms']:8.1f} {case['sql_ms']:7.2f} "
            f"{case['raw_ms']:7.2f} {sql_ratio:7.2f}x {case['sql_ms'] / union['p50_ms']:9.2f}x {walks}"
        )
    report.line(
        f"worst page p95 {worst_p95:.1f} ms {report.check('inbox page p95 (ms)', worst_p95, at_most=TARGETS['inbox_p95_ms'])}"
    )
    report.line(
        f"worst SQL vs the raw UNION ALL of its filter {worst_sql:.2f}x {report.check('inbox SQL vs raw UNION ALL', worst_sql, at_most=TARGETS['inbox_sql_vs_raw_union'])}"
    )
    if args.verbose:
        for case in ours["cases"]:
            report.line(f"-- {case['name']}\n{case['plan']}")
    report.figures["inbox"] = {"ours": ours, "raw_union": union}


def run_activations(args: argparse.Namespace, report: Report) -> None:
    report.line(f"\n== 4. Account activations: automated steps on {args.workers} Celery workers ==")
    ours = part(
        "activations.py",
        "--n",
        str(args.activations),
        "--workers",
        str(args.workers),
        env_url=(args.database_url, args.redis_url),
    )
    report.line(
        f"{ours['activations']} activations, {ours['steps']} automated steps in {ours['seconds']:.1f} s: "
        f"{ours['steps_per_s']:.1f} steps/s, {ours['activations_per_s']:.1f} activations/s "
        f"(started from code by the integration client; {ours['active']} active, {ours['risk_review']} to risk review)"
    )
    report.figures["activations"] = ours


def run_export(args: argparse.Namespace, report: Report) -> None:
    report.line(f"\n== 5. Audit export of {args.export_events:,} events ==")
    ours = part(
        "audit_export.py",
        "--events",
        str(args.export_events),
        *(["--rebuild"] if args.rebuild else []),
        env_url=(args.database_url + "_export", args.redis_url),
    )
    for fmt, figures in ours["formats"].items():
        report.line(
            f"{fmt:5}: {figures['rows']:,} rows in {figures['seconds']:.1f} s = {figures['rows_per_s']:,.0f} rows/s, "
            f"{figures['bytes'] / 1e6:.0f} MB, peak RSS {figures['peak_rss_mb']:.0f} MB "
            f"{report.check(f'export {fmt} peak RSS (MB)', figures['peak_rss_mb'], at_most=TARGETS['export_rss_mb'])}"
        )
    report.figures["export"] = ours


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)} (default: all)"
    )
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help="the benchmark's own database; _limits, _viewflow, _history, _inbox and _export siblings are made beside it "
        f"(default {DEFAULT_DATABASE_URL})",
    )
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help=f"(default {DEFAULT_REDIS_URL})")
    parser.add_argument(
        "--peers",
        type=Path,
        default=DEFAULT_PEERS,
        help=f"the baselines' scripts and projects (default {DEFAULT_PEERS})",
    )
    parser.add_argument(
        "--viewflow-venv",
        type=Path,
        default=Path("/tmp/approval-bench/viewflow-venv"),
        help="where viewflow's own virtual environment is made (default /tmp/approval-bench/viewflow-venv)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of part 1 (default 3)")
    parser.add_argument("--n", type=int, default=300, help="orders per round in part 1 (default 300)")
    parser.add_argument(
        "--history",
        type=int,
        default=1_000_000,
        help="past orders of part 1's second company (its _history database; 0: none; default 1,000,000)",
    )
    parser.add_argument("--pg-seconds", type=int, default=8, help="seconds of each pgbench run (default 8)")
    parser.add_argument("--clients", default="1,4,16", help="HTTP client counts (default 1,4,16)")
    parser.add_argument(
        "--http-seconds", type=int, default=20, help="seconds of load per client count (default 20)"
    )
    parser.add_argument("--web", type=int, default=2, help="web processes in part 2 (default 2)")
    parser.add_argument(
        "--threads", type=int, default=4, help="threads per gunicorn-gthread worker in part 2 (default 4)"
    )
    parser.add_argument(
        "--server",
        choices=SHAPES,
        default=PRODUCTION_HTTP,
        help=f"the HTTP server of part 2 (default {PRODUCTION_HTTP}, as the image runs)",
    )
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes (default 2)")
    parser.add_argument(
        "--inbox-tasks", type=int, default=1_000_000, help="tasks in part 3's company (default 1,000,000)"
    )
    parser.add_argument(
        "--inbox-samples", type=int, default=40, help="HTTP requests per inbox case (default 40)"
    )
    parser.add_argument(
        "--activations", type=int, default=200, help="account activations in part 4 (default 200)"
    )
    parser.add_argument(
        "--export-events", type=int, default=1_000_000, help="audit events in part 5 (default 1,000,000)"
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="rebuild parts 1's history and 3's and 5's generated data"
    )
    parser.add_argument(
        "--baseline-tree",
        type=Path,
        help="another checkout with this bench/ folder (e.g. from `git archive main`): parts 1 and 2 "
        "run its code too, interleaved, and print now/before ratios",
    )
    parser.add_argument(
        "--compare-servers",
        metavar="SHAPES",
        help="part 2 runs these serving shapes instead, at each client count, interleaved, e.g. "
        "daphne:1,daphne:4,uvicorn:4,gunicorn-sync:4,gunicorn-gthread:2x4 (server:processes[xthreads])",
    )
    parser.add_argument(
        "--relay",
        choices=("process", "thread"),
        default="process",
        help="where the outbox is relayed: a relay process woken by the database, as "
        "docker/compose.yaml runs it (default), or a thread in every process that commits",
    )
    parser.add_argument(
        "--baseline-relay",
        choices=("process", "thread"),
        help="the same for --baseline-tree (default: as --relay); with the baseline tree this one, "
        "compares the two",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("-v", "--verbose", action="store_true", help="print SQL statements and query plans")
    args = parser.parse_args()
    args.clients = [int(c) for c in args.clients.split(",")]
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")

    report = Report()
    began = time.monotonic()
    database_create(args.database_url, drop=True)
    raw = RawDatabase(peers=args.peers, database_url=args.database_url)
    if {"code", "http", "inbox"} & set(parts):
        report.line("raw database: loading bench-peers' 1,000,000-task schema ...")
        raw.prepare()
    if "code" in parts:
        viewflow = Viewflow(peers=args.peers, database_url=args.database_url, venv=args.viewflow_venv)
        report.line(f"django-viewflow {viewflow.prepare()} in {args.viewflow_venv}")
        run_code(args, report, raw, viewflow)
    if "http" in parts:
        run_http(args, report, raw)
    if "inbox" in parts:
        run_inbox(args, report, raw)
    if "activations" in parts:
        run_activations(args, report)
    if "export" in parts:
        run_export(args, report)

    report.line(f"\n{len(report.misses)} target(s) missed, {time.monotonic() - began:.0f} s")
    for miss in report.misses:
        report.line(f"  MISSED {miss}")
    if args.json:
        args.json.write_text(
            json.dumps({"figures": report.figures, "misses": report.misses}, indent=1, default=str)
        )
    return 1 if report.misses else 0


if __name__ == "__main__":
    sys.exit(main())
