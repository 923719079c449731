"""Part 5: the audit export of a million events over HTTP, its rows per second and the web
process's peak memory.

    python bench/audit_export.py --events 1000000 [--rebuild]

Builds (once) `--events` audit events on chains of 10 (with COPY; their hashes are not a
valid chain, which the export does not check), then downloads
/api/v1/audit-events/export/ as CSV and as JSON lines from one Daphne server as an auditor,
counting rows and bytes, and reads the server process's peak resident memory (VmHWM) from
/proc after each download. A fresh server per format, so each peak is that format's own.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import DEFAULT_REDIS_URL, database_create, django_setup, emit

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/approval_bench_export"


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    args = parser.parse_args()
    database_create(args.database_url, drop=args.rebuild)
    django_setup(args.database_url, args.redis_url)
    import httpx
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection, connections
    from servers import production_shape

    from apps.accounts.models import User
    from apps.accounts.services import api_key_create, roles_ensure
    from apps.audit.models import AuditEvent

    call_command("migrate", verbosity=0)
    roles_ensure()
    auditor, _ = User.objects.get_or_create(username="bench-auditor")
    auditor.groups.add(Group.objects.get(name="Auditors"))
    existing = AuditEvent.objects.count()
    if existing < args.events:
        began = time.perf_counter()
        _build(connection, args.events - existing, offset=existing)
        print(f"built {args.events - existing} events in {time.perf_counter() - began:.0f} s", flush=True)
    key = api_key_create(user=auditor, name="bench", actor=None)[1]
    total = AuditEvent.objects.count()
    connections.close_all()
    formats = {}
    for fmt in ("csv", "jsonl"):
        with production_shape(
            database_url=args.database_url, redis_url=args.redis_url, web=1, workers=0
        ) as web:
            before = peak_rss_mb(web.pids[0])
            rows = size = 0
            began = time.perf_counter()
            with httpx.stream(
                "GET",
                f"{web[0]}/api/v1/audit-events/export/",
                params={"format": fmt},
                headers={"Authorization": f"Api-Key {key}"},
                timeout=600,
            ) as answer:
                answer.raise_for_status()
                for chunk in answer.iter_bytes():
                    size += len(chunk)
                    rows += chunk.count(b"\n")
            seconds = time.perf_counter() - began
            rows -= 1 if fmt == "csv" else 0  # the header
            formats[fmt] = {
                "rows": rows,
                "bytes": size,
                "seconds": seconds,
                "rows_per_s": rows / seconds,
                "peak_rss_mb": peak_rss_mb(web.pids[0]),
                "rss_before_mb": before,
            }
            print(fmt, formats[fmt], flush=True)
    emit({"events": total, "formats": formats})


def _build(connection, count: int, *, offset: int) -> None:
    """Events of 10 per chain (one instance each), about 300 bytes of data each, with COPY."""
    now = datetime(2027, 1, 1, tzinfo=UTC)
    chains = (count + 9) // 10
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        with cursor.copy(
            "COPY workflows_workflowinstance (kind, definition_version, business_key, state, data,"
            " created_at, updated_at, version) FROM STDIN"
        ) as copy:
            for c in range(chains):
                copy.write_row(("purchase_order", 1, f"EXPORT-{offset}-{c}", "approved", "{}", now, now, 1))
        cursor.execute(
            "SELECT id FROM workflows_workflowinstance WHERE business_key LIKE %s ORDER BY id",
            [f"EXPORT-{offset}-%"],
        )
        instances = [row[0] for row in cursor.fetchall()]
        data = json.dumps(
            {
                "step": "team_lead_approval",
                "outcome": "approve",
                "comment": "Looks good to me; approved after reviewing all attached documents and checks.",
                "data": {
                    "amount": 1234.56,
                    "currency": "EUR",
                    "cost_center": "CC-0042",
                    "ref": "PO-2026-000123",
                },
                "policy": "Team leads; not the requester",
            }
        )
        with cursor.copy(
            "COPY audit_auditevent (chain_key, seq, occurred_at, actor_type, actor_label, action,"
            " instance_id, from_state, to_state, data, request_id, prev_hash, hash) FROM STDIN"
        ) as copy:
            for g in range(count):
                chain, seq = divmod(g, 10)
                instance = instances[chain]
                copy.write_row(
                    (
                        f"instance:{instance}",
                        seq + 1,
                        now + timedelta(seconds=g),
                        "user",
                        "bench-lead0",
                        "task.completed",
                        instance,
                        "claimed",
                        "completed",
                        data,
                        f"req-{g}",
                        f"{g - 1:064x}" if seq else "",
                        f"{g:064x}",
                    )
                )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_auditevent")


if __name__ == "__main__":
    main()
