"""Part 1 for several checkouts at once: each tree's from-code figures (bench/code_ops.py of
that tree) beside viewflow's smallest flow, in interleaved rounds, so the speed-up of each
step of a change reads against the same load. Prints one table; docs/performance.md keeps
the last one.

    git worktree add --detach /tmp/step-main main        # and one per commit to compare
    python bench/code_steps.py --rounds 3 --n 100 /tmp/step-main /tmp/step-1 .

Each tree runs on the same benchmark database (its orders have their own business keys).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
from pathlib import Path

from common import DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL
from peers import DEFAULT_PEERS, Viewflow
from run import part


def load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"{one:.1f}/{five:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("trees", nargs="+", type=Path, help="checkouts to measure, the first is the baseline")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--peers", type=Path, default=DEFAULT_PEERS)
    parser.add_argument("--viewflow-venv", type=Path, default=Path("/tmp/approval-bench/viewflow-venv"))
    args = parser.parse_args()
    viewflow = Viewflow(peers=args.peers, database_url=args.database_url, venv=args.viewflow_venv)
    print(f"django-viewflow {viewflow.prepare()}", flush=True)
    trees = [tree.resolve() for tree in args.trees]
    labels = [
        subprocess.run(
            ["git", "-C", str(tree), "log", "-1", "--format=%h %s"], capture_output=True, text=True
        ).stdout.strip()[:60]
        for tree in trees
    ]
    rounds: list[tuple[list[dict], dict, str]] = []
    for r in range(args.rounds):
        ours = [
            part("code_ops.py", "--n", str(args.n), env_url=(args.database_url, args.redis_url), tree=tree)
            for tree in trees
        ]
        theirs = viewflow.run(n=args.n)
        rounds.append((ours, theirs, load()))
        print(
            f"round {r + 1} (load {rounds[-1][2]}): "
            + ", ".join(f"{o['end_to_end_per_s']:.2f}" for o in ours)
            + f" orders/s; viewflow {theirs['end_to_end_per_s']:.2f}",
            flush=True,
        )

    def med(values: list[float]) -> float:
        return statistics.median(values)

    print(
        f"\n| tree | start SQL | claim+complete SQL | start/s | claim+complete/s | orders/s "
        f"| vs viewflow | vs {labels[0][:7]} |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")

    def row(label: str, figures: list[dict], vs_viewflow: str, vs_base: str) -> str:
        rates = [med([f[key] for f in figures]) for key in ("start_per_s", "claim_complete_per_s")]
        e2e = med([f["end_to_end_per_s"] for f in figures])
        statements = f"{figures[-1]['start_sql']:.0f} | {figures[-1]['claim_complete_sql']:.0f}"
        per_s = f"{rates[0]:.2f} | {rates[1]:.2f} | {e2e:.2f}"
        return f"| {label} | {statements} | {per_s} | {vs_viewflow} | {vs_base} |"

    for i, label in enumerate(labels):
        figures = [ours[i] for ours, _, _ in rounds]
        vs_viewflow = med([o[i]["end_to_end_per_s"] / t["end_to_end_per_s"] for o, t, _ in rounds])
        vs_base = med([o[i]["end_to_end_per_s"] / o[0]["end_to_end_per_s"] for o, _, _ in rounds])
        print(row(label, figures, f"{vs_viewflow:.2f}x", f"{vs_base:.2f}x"))
    print(row("django-viewflow 2.4, smallest flow", [t for _, t, _ in rounds], "1.00x", ""))
    print(f"\nload average (1/5 min) after each round: {', '.join(load for _, _, load in rounds)}")


if __name__ == "__main__":
    main()
