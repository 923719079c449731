"""/metrics: Prometheus' text format for operators, not for the public; the work's state is
read from the database at scrape time; instruments add up over processes."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from apps.automation.models import StepRun
from apps.core.metrics import websocket_connected, websocket_disconnected
from apps.humantasks.models import HumanTask
from apps.humantasks.services import task_claim
from apps.workflows.services import instance_start
from config.env import BASE_DIR
from tests.factories import account_activation_data, purchase_order_data
from tests.process_steps import open_task

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    answer = client.get("/metrics", **headers)
    assert answer.status_code == 200, answer.status_code
    assert answer["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.content.decode())
        for sample in family.samples
    }


def test_tasks_per_queue_and_state_sla_breaches_and_the_outbox_are_read_at_scrape_time(client, people):
    first = instance_start(
        kind="purchase_order", business_key="PO-M1", data=purchase_order_data(1200), actor=people["requester"]
    )
    instance_start(
        kind="purchase_order", business_key="PO-M2", data=purchase_order_data(900), actor=people["requester"]
    )
    task_claim(task=open_task(first), actor=people["lead"])
    HumanTask.objects.filter(instance=first).update(due_at=timezone.now() - timedelta(hours=1))

    metrics = scrape(client)

    queue = open_task(first).queue.slug
    assert metrics[("approval_human_tasks", (("queue", queue), ("state", "claimed")))] == 1
    assert metrics[("approval_human_tasks", (("queue", queue), ("state", "open")))] == 1
    assert metrics[("approval_human_tasks_overdue", (("queue", queue),))] == 1
    # In a test the commit never comes, so the relay never ran: every row still waits.
    assert metrics[("approval_outbox_messages_pending", ())] >= 4
    assert metrics[("approval_outbox_oldest_pending_age_seconds", ())] >= 0


def test_step_runs_by_state_and_dead_letters(client, people):
    activation = instance_start(
        kind="account_activation",
        business_key="ACC-M1",
        data=account_activation_data(),
        actor=people["integration"],
    )
    runs = StepRun.objects.filter(instance=activation)
    assert runs.count() == 2
    first, second = runs
    StepRun.objects.filter(pk=first.pk).update(state=StepRun.State.RETRYING, attempts=2)
    StepRun.objects.filter(pk=second.pk).update(state=StepRun.State.FAILED, attempts=5)

    metrics = scrape(client)

    assert metrics[("approval_step_runs", (("state", "retrying"),))] == 1
    assert metrics[("approval_step_runs", (("state", "failed"),))] == 1
    assert metrics[("approval_step_runs", (("state", "succeeded"),))] == 0
    assert metrics[("approval_step_run_retries_pending", ())] == 2
    assert metrics[("approval_step_run_dead_letters", ())] == 1


def test_request_latency_is_a_histogram_by_route_not_by_path(client, people):
    client.force_login(people["lead"])
    client.get("/api/v1/tasks/999999/")
    client.get("/api/v1/tasks/999998/")

    metrics = scrape(client)

    key = (
        "approval_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "api/v1/tasks/<str:pk>/"), ("status", "404")),
    )
    assert metrics[key] >= 2
    assert not any("999999" in str(labels) for _name, labels in metrics)


def test_websocket_connections_is_a_gauge_other_code_moves(client):
    before = scrape(client)[("approval_websocket_connections", ())]
    websocket_connected()
    websocket_connected()
    websocket_disconnected()
    assert scrape(client)[("approval_websocket_connections", ())] == before + 1
    websocket_disconnected()


def test_not_public_without_a_token_only_loopback_is_answered(client):
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200


def test_with_a_token_every_scraper_must_send_it(client, settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    assert client.get("/metrics").status_code == 404  # loopback is not enough any more
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    scrape(client, HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")


MULTIPROCESS_PROBE = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
import django
django.setup()
from apps.core.metrics import websocket_connected
for _ in range(int(sys.argv[1])):
    websocket_connected()
"""


def test_instruments_add_up_over_processes_with_a_multiprocess_directory(tmp_path):
    """Two processes (as two web servers would) count their connections into one directory;
    a scrape by a third adds them up."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    holders = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                MULTIPROCESS_PROBE + "\nimport time; print('up', flush=True); time.sleep(60)",
                n,
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in ("2", "3")
    ]
    try:
        for holder in holders:
            assert holder.stdout.readline().strip() == "up"
        scraped = subprocess.run(
            [
                sys.executable,
                "-c",
                "import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings_test');"
                "import django; django.setup();"
                "from apps.ops.metrics import _instruments; from prometheus_client import generate_latest;"
                "print(generate_latest(_instruments()).decode())",
            ],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        for holder in holders:
            holder.kill()
            holder.wait()
    values = [
        sample.value
        for family in text_string_to_metric_families(scraped)
        for sample in family.samples
        if sample.name == "approval_websocket_connections"
    ]
    assert values == [5]
