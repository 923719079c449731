"""Part 4: account activations end to end on Celery workers, as an external system starts them.

    python bench/activations.py --n 200 [--workers 2]

Starts `--n` activations from code as the integration client (the API's start service, one
transaction each; the outbox relay hands their two automated steps to the broker), with
`--workers` Celery worker processes running the steps against the simulated credit bureau
and employment verifier (no delay). Reports automated steps completed per second, from the
first start until every activation has left its checks (active or waiting for risk review).
"""

from __future__ import annotations

import argparse
import time
import uuid

from common import DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, company_ensure, django_setup, emit


def activation_data(i: int) -> dict:
    return {
        "customer_name": f"Customer {i}",
        "customer_email": f"customer{i}@example.com",
        "national_id": f"AB-{i:06d}",
        "employer": "Analytical Engines Ltd",
        "requested_limit": 5000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    args = parser.parse_args()
    django_setup(args.database_url, args.redis_url)
    from django.db import connections
    from servers import production_shape

    from apps.automation.models import StepRun
    from apps.workflows.models import WorkflowInstance
    from apps.workflows.services import instance_start

    integration = company_ensure()["integration"][0]
    run = uuid.uuid4().hex[:8]
    connections.close_all()
    with production_shape(
        database_url=args.database_url, redis_url=args.redis_url, web=0, workers=args.workers
    ):
        time.sleep(2)  # the workers connect to the broker
        began = time.perf_counter()
        ids = [
            instance_start(
                kind="account_activation",
                business_key=f"ACT-{run}-{i}",
                data=activation_data(i),
                actor=integration,
            ).pk
            for i in range(args.n)
        ]
        started = time.perf_counter()
        mine = WorkflowInstance.objects.filter(pk__in=ids)
        while mine.filter(state="checks_running").exists():
            if time.perf_counter() - began > args.timeout:
                raise SystemExit(f"activations still running after {args.timeout:.0f} s")
            time.sleep(0.2)
        finished = time.perf_counter()
    steps = StepRun.objects.filter(instance_id__in=ids, state=StepRun.State.SUCCEEDED).count()
    states: dict[str, int] = {}
    for state in mine.values_list("state", flat=True):
        states[state] = states.get(state, 0) + 1
    emit(
        {
            "activations": args.n,
            "steps": steps,
            "seconds": finished - began,
            "start_seconds": started - began,
            "steps_per_s": steps / (finished - began),
            "activations_per_s": args.n / (finished - began),
            "active": states.get("active", 0),
            "risk_review": states.get("risk_review", 0),
            "states": states,
        }
    )


if __name__ == "__main__":
    main()
