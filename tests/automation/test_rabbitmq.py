"""RabbitMQ instead of Redis, by configuration only (CELERY_BROKER_URL=amqp://...)."""

from __future__ import annotations

import socket
import uuid

import pytest
from kombu import Connection

from apps.workflows.models import WorkflowInstance
from tests.celery_workers import Workers, point_celery_at, wait_for, worker_base_env
from tests.factories import start_account_activation

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"


def rabbitmq_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def rabbitmq_queue(tmp_path):
    if not rabbitmq_answers():
        pytest.skip("no RabbitMQ on 127.0.0.1:5672")
    queue = f"approval-inbox-test-{uuid.uuid4().hex[:8]}"
    point_celery_at(RABBITMQ_URL)
    from config.celery_app import app

    app.conf.task_default_queue = queue
    yield queue
    app.conf.task_default_queue = "celery"
    point_celery_at(None)
    with Connection(RABBITMQ_URL) as connection:
        channel = connection.channel()
        channel.queue_delete(queue)


def test_a_step_runs_on_a_worker_over_rabbitmq(people, rabbitmq_queue, tmp_path):
    pool = Workers(RABBITMQ_URL, worker_base_env(broker_url=RABBITMQ_URL, directory=tmp_path), tmp_path)
    try:
        pool.start(
            "rabbit",
            REDIS_URL="",
            AUTOMATION_BREAKER_REDIS_URL="",
            CELERY_TASK_DEFAULT_QUEUE=rabbitmq_queue,
        )
        application = start_account_activation(people["integration"], business_key="ACC-R")
        wait_for(
            lambda: WorkflowInstance.objects.filter(pk=application.pk, state="active").exists(),
            timeout=30,
            what="the checks to run over RabbitMQ",
        )
    finally:
        pool.stop_all()
