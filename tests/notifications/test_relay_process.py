"""The outbox relay as a process of its own (`manage.py outbox_relay`), woken by PostgreSQL's
NOTIFY when a commit writes outbox rows: a real process on the test database.

Its poll is set far beyond the tests' deadlines, so only the database's notification can
have woken it in time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.db import connection, transaction

from apps.notifications.models import OutboxMessage
from apps.notifications.relay_process import LISTENER_NAME, OUTBOX_DUE_CHANNEL
from config.env import BASE_DIR
from tests.celery_workers import wait_for, worker_base_env
from tests.factories import start_purchase_order

pytestmark = [pytest.mark.postgres]


def pending():
    return OutboxMessage.objects.filter(dispatched_at__isnull=True)


def listeners() -> int:
    """Connections listening for the relay on the test database."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE application_name = %s AND datname = current_database()",
            [LISTENER_NAME],
        )
        return cursor.fetchone()[0]


class RelayProcess:
    def __init__(self, log: Path, environment: dict[str, str]) -> None:
        self.log = log
        with log.open("ab") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "outbox_relay", "--poll-seconds", "3600"],
                cwd=BASE_DIR,
                env=environment,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self.listening, timeout=60, interval=0.1, what="the relay process listening")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def listening(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the relay process exited:\n{self.output()[-4000:]}")
        return listeners() == 1

    def stop(self) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise


@pytest.fixture
def relay_process(transactional_db, settings, publishing_to, tmp_path) -> Iterator[RelayProcess]:
    """A relay process on the test database (jobs go to a redis-server of the test's own), and
    this process's commits leaving the relaying to it."""
    settings.OUTBOX_RELAY_NUDGE = "notify"
    environment = {
        **worker_base_env(broker_url=publishing_to, directory=tmp_path),
        "OUTBOX_RELAY_NUDGE": "notify",
    }
    relay = RelayProcess(tmp_path / "relay.log", environment)
    yield relay
    relay.stop()


def test_a_commit_wakes_the_relay_process_which_sends_its_rows(people, relay_process, monkeypatch):
    from apps.notifications import services

    nudged: list[object] = []
    monkeypatch.setattr(services, "_relay_nudge", lambda **kwargs: nudged.append(kwargs))
    purchase = start_purchase_order(people["requester"], amount=100, business_key="PO-RELAY-1")
    # Nothing left for this process to do after its commit: the database wakes the relay.
    assert nudged == []

    wait_for(
        lambda: not pending().exists(), timeout=20, interval=0.05, what="the relay process sending the rows"
    )
    sent = OutboxMessage.objects.filter(instance=purchase)
    assert [row.topic for row in sent.order_by("id")] == ["instance.transitioned", "task.created"]
    assert all(row.attempts == 1 for row in sent)


def test_the_relay_process_listens_again_after_the_database_drops_its_connections(people, relay_process):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    wait_for(relay_process.listening, timeout=30, interval=0.1, what="the relay listening again")

    start_purchase_order(people["requester"], amount=100, business_key="PO-RELAY-2")

    wait_for(
        lambda: not pending().exists(), timeout=20, interval=0.05, what="the rows sent after the reconnect"
    )
    assert "lost the connection" in relay_process.output()


def test_sigterm_stops_the_relay_process_cleanly(relay_process):
    assert relay_process.stop() == 0
    assert "Outbox relay stopped." in relay_process.output()


@pytest.mark.django_db(transaction=True)
def test_the_trigger_notifies_on_commit_only(people):
    """What wakes the relay: one notification per committed transaction that wrote outbox rows,
    none for one that rolled back."""
    database = connection.settings_dict
    with psycopg.connect(
        dbname=database["NAME"],
        user=database["USER"],
        host=database["HOST"],
        port=database["PORT"],
        autocommit=True,
    ) as listener:
        listener.execute(f"LISTEN {OUTBOX_DUE_CHANNEL}")

        class RolledBack(Exception):
            pass

        with pytest.raises(RolledBack), transaction.atomic():
            start_purchase_order(people["requester"], amount=100, business_key="PO-UNDONE")
            raise RolledBack
        assert list(listener.notifies(timeout=0.5)) == []

        start_purchase_order(people["requester"], amount=100, business_key="PO-DONE")  # two rows, one commit
        heard = list(listener.notifies(timeout=5, stop_after=1)) + list(listener.notifies(timeout=0.5))
        assert [note.channel for note in heard] == [OUTBOX_DUE_CHANNEL]


def test_the_relay_process_refuses_a_database_without_notify(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "outbox_relay"],
        cwd=BASE_DIR,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "needs PostgreSQL" in result.stderr


# The serving loop itself, on a thread of this process (its own connection), where the
# database's answers can be made to fail the way a restarting server's do.


@pytest.fixture
def serve(transactional_db, settings):
    """Start outbox_relay_serve on a thread (poll far beyond the tests' deadlines); stop it after."""
    from apps.notifications.relay_process import outbox_relay_serve

    settings.OUTBOX_RELAY_NUDGE = "notify"
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(**options: float) -> None:
        thread = threading.Thread(
            target=outbox_relay_serve, kwargs={"stop": stop, "poll_seconds": 3600, **options}, daemon=True
        )
        thread.start()
        threads.append(thread)

    yield start
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()


def test_a_relay_that_cannot_listen_yet_tries_again_every_second_not_at_the_next_poll(
    people, serve, monkeypatch
):
    from apps.notifications import relay_process

    real = relay_process._listener_connect
    attempts: list[float] = []

    def refused_twice():
        attempts.append(time.monotonic())
        if len(attempts) <= 2:
            raise psycopg.OperationalError("the database system is starting up")
        return real()

    monkeypatch.setattr(relay_process, "_listener_connect", refused_twice)
    serve()
    wait_for(lambda: listeners() == 1, timeout=20, interval=0.1, what="the relay listening on its third try")
    assert len(attempts) == 3

    start_purchase_order(people["requester"], amount=100, business_key="PO-RELAY-3")
    wait_for(lambda: not pending().exists(), timeout=20, interval=0.05, what="the rows sent")


def test_a_backlog_larger_than_one_run_is_drained_without_waiting_for_another_commit(
    people, serve, monkeypatch
):
    from apps.notifications import relay_process, services
    from apps.notifications.services import outbox_put

    # One pass of 200 rows per run here, so that 450 rows need three runs.
    monkeypatch.setattr(services, "MAX_PASSES", 1)
    monkeypatch.setattr(relay_process, "FULL_RUN", services.RELAY_PASS_LIMIT)
    with transaction.atomic():  # one commit, one notification
        for n in range(450):
            outbox_put(topic="report.ready", payload={"n": n})
    serve()
    wait_for(lambda: not pending().exists(), timeout=30, interval=0.1, what="all 450 rows sent")


@pytest.fixture
def runs(monkeypatch) -> list[int]:
    """The rows each run of the serving loop sent, in order."""
    from apps.notifications import relay_process

    sent: list[int] = []
    real = relay_process.outbox_relay

    def counted() -> int:
        sent.append(real())
        return sent[-1]

    monkeypatch.setattr(relay_process, "outbox_relay", counted)
    return sent


def put_one(n: int) -> None:
    from apps.notifications.services import outbox_put

    with transaction.atomic():  # one row, one commit, one notification
        outbox_put(topic="report.ready", payload={"n": n})


def test_a_relay_woken_under_load_gathers_the_next_commits_into_one_run(people, serve, runs, monkeypatch):
    from apps.notifications import relay_process

    # Every wake counts as "soon after the last run" here, so the gathering does not depend on
    # how fast this machine commits.
    monkeypatch.setattr(relay_process, "BUSY_SECONDS", 3600)
    serve(gather_seconds=2.0)
    wait_for(lambda: len(runs) == 1 and listeners() == 1, timeout=20, interval=0.05, what="the first run")
    put_one(1)
    time.sleep(0.3)
    put_one(2)
    wait_for(lambda: not pending().exists(), timeout=20, interval=0.05, what="both rows sent")
    assert runs[1:] == [2]  # both commits served by the run after the first


def test_an_idle_relay_runs_at_once_without_gathering(people, serve, runs):
    from apps.notifications import relay_process

    # A gathering this long would outlast the wait below.
    serve(gather_seconds=60.0)
    wait_for(lambda: len(runs) == 1 and listeners() == 1, timeout=20, interval=0.05, what="the first run")
    time.sleep(relay_process.BUSY_SECONDS * 3)
    put_one(1)
    wait_for(lambda: not pending().exists(), timeout=20, interval=0.05, what="the row sent without gathering")
    assert runs[1:] == [1]


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"poll_seconds": 0}, "--poll-seconds must be more than 0."),
        ({"gather_seconds": -0.1}, "--gather-seconds must be between 0 and 1."),
        ({"gather_seconds": 5}, "--gather-seconds must be between 0 and 1."),
    ],
)
def test_the_relay_command_refuses_a_poll_or_gathering_out_of_range(option, message):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match=message.replace(".", r"\.")):
        call_command("outbox_relay", **option)
