"""A worker whose Redis broker vanishes while it runs a job stays up, reconnects when Redis is
back, and finishes the work (config/redis_broker.py): a real worker, a redis-server of the
test's own, an automated step slow enough to be running when Redis goes."""

from __future__ import annotations

import time

import pytest

from apps.automation.models import StepRun
from apps.workflows.models import WorkflowInstance
from tests.celery_workers import RedisServer, free_port, publishing_to, wait_for, workers  # noqa: F401
from tests.factories import start_account_activation

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def own_redis(tmp_path):
    """The broker as production keeps it (append-only file): its queued jobs outlive a restart."""
    server = RedisServer(free_port(), directory=tmp_path / "redis")
    server.start()
    yield server
    server.stop()


def test_a_worker_survives_losing_its_broker_mid_job(people, workers, own_redis):  # noqa: F811
    worker = workers.start(concurrency=1, AUTOMATION_SIMULATED_DELAY_SECONDS="4")
    activation = start_account_activation(people["integration"], business_key="ACC-BROKER-LOST")
    running = StepRun.objects.filter(instance=activation, state="running")
    wait_for(running.exists, timeout=60, what="a step to be running")

    # The running job is unacknowledged (acks_late) when the broker goes.
    own_redis.stop()
    wait_for(lambda: "Connection to broker lost" in worker.output(), timeout=30, what="the worker to notice")
    time.sleep(2)
    own_redis.start()

    def finished() -> bool:
        return WorkflowInstance.objects.filter(pk=activation.pk).exclude(state="checks_running").exists()

    wait_for(finished, timeout=120, interval=0.5, what="the activation's checks to finish")
    assert worker.process.poll() is None, worker.output()[-4000:]
    assert "Unrecoverable error" not in worker.output(), worker.output()[-4000:]
