"""Scale-out: two web processes (Daphne, the ASGI server of docker/compose.yaml) and two
workers share PostgreSQL and Redis; a few hundred activations are started through the API,
spread over both web processes, and every automated step must run exactly once."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from apps.accounts.services import api_key_create
from apps.audit.models import AuditEvent
from apps.automation.models import StepRun
from apps.workflows.models import WorkflowInstance
from tests.celery_workers import wait_for
from tests.factories import account_activation_data
from tests.web_servers import WebServers

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

INSTANCES = 200


@pytest.fixture
def web_servers(workers, tmp_path):
    """Two `daphne config.asgi:application` processes with the workers' settings."""
    servers = WebServers(workers.base_env, tmp_path)
    yield [server.url for server in servers.start(2)]
    servers.stop_all()


def test_two_web_processes_and_two_workers_run_every_step_exactly_once(people, workers, web_servers):
    workers.start("w1", concurrency=2)
    workers.start("w2", beat=False, concurrency=2)
    _key, raw_key = api_key_create(user=people["integration"], name="scale-out", actor=None)
    headers = {"Authorization": f"Api-Key {raw_key}"}

    def start(n: int) -> int:
        # Every tenth applicant has a failing credit file and goes to a risk officer.
        data = account_activation_data(national_id=f"SC-{n:04d}" + ("X" if n % 10 == 0 else ""))
        response = httpx.post(
            f"{web_servers[n % 2]}/api/v1/instances/",
            json={"kind": "account_activation", "business_key": f"SCALE-{n}", "data": data},
            headers=headers,
            timeout=30,
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(start, range(INSTANCES)))

    def all_finished() -> bool:
        return not WorkflowInstance.objects.filter(pk__in=ids, state="checks_running").exists()

    wait_for(all_finished, timeout=240, interval=1, what="every activation to finish its checks")

    states = Counter(WorkflowInstance.objects.filter(pk__in=ids).values_list("state", flat=True))
    assert states == {"active": INSTANCES * 9 // 10, "risk_review": INSTANCES // 10}
    runs = StepRun.objects.filter(instance_id__in=ids)
    assert runs.count() == 2 * INSTANCES
    assert set(runs.values_list("state", "attempts").distinct()) == {("succeeded", 1)}
    applied = Counter(
        AuditEvent.objects.filter(instance_id__in=ids, action="automation.step_succeeded").values_list(
            "instance_id", "data__step"
        )
    )
    assert len(applied) == 2 * INSTANCES and set(applied.values()) == {1}
    recorded = Counter(
        AuditEvent.objects.filter(instance_id__in=ids, action="instance.transitioned").values_list(
            "instance_id", "data__transition"
        )
    )
    assert {t for (_i, t), count in recorded.items() if count != 1} == set()
