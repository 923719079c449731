"""`manage.py start` as a new person runs it: a real process serving real HTTP on loopback."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from tests.celery_workers import free_port

STARTUP_TIMEOUT = 90
URL_LINE = re.compile(r"Approval inbox: (http://\S+)")


@dataclass
class Server:
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    url: str = ""

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def password_of(self, username: str) -> str:
        row = re.search(rf"^{re.escape(username)}\s.*?\s(\S+)\s*$", self.output, re.MULTILINE)
        assert row, f"no credentials row for {username} in:\n{self.output}"
        return row.group(1)


@contextmanager
def running_start(tmp_path: Path, **settings_env: str) -> Iterator[Server]:
    # The embedded default as a fresh clone sees it: none of the production or test settings.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TEST_", "DJANGO_", "AUDIT_", "DATABASE_", "REDIS_", "CELERY_", "AUTOMATION_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        DJANGO_SECRET_KEY="start-test-" + tmp_path.name,
        AUDIT_HASH_KEY="start-test-audit-" + tmp_path.name,
        # This run's jobs and beat schedule stay its own, not in the working tree's var/.
        CELERY_BROKER_DIR=str(tmp_path / "broker"),
        CELERY_BEAT_SCHEDULE_FILENAME=str(tmp_path / "beat-schedule"),
        PYTHONUNBUFFERED="1",
        **settings_env,
    )
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "start", "--port", str(port), "--password-file", str(tmp_path / "pw")],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    server = Server(process)
    threading.Thread(
        target=lambda: server.lines.extend(iter(process.stdout.readline, "")), daemon=True
    ).start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.url:
            assert process.poll() is None, f"start exited with {process.returncode}:\n{server.output}"
            assert time.monotonic() < deadline, f"no URL printed within {STARTUP_TIMEOUT}s:\n{server.output}"
            found = URL_LINE.search(server.output)
            server.url = found.group(1) if found else ""
            time.sleep(0.1)
        assert server.url == f"http://127.0.0.1:{port}/"
        while True:
            try:
                urllib.request.urlopen(server.url + "accounts/login/", timeout=2).close()
                break
            except OSError:
                assert process.poll() is None, f"start exited with {process.returncode}:\n{server.output}"
                assert time.monotonic() < deadline, f"not serving within {STARTUP_TIMEOUT}s:\n{server.output}"
                time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            # SIGTERM, not SIGINT: a shell may have started us with SIGINT ignored, and children inherit that.
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)


def sign_in(base_url: str, username: str, password: str) -> urllib.request.OpenerDirector:
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = browser.open(base_url + "accounts/login/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    body = urllib.parse.urlencode(
        {"username": username, "password": password, "next": "/", "csrfmiddlewaretoken": token}
    ).encode()
    landed = browser.open(base_url + "accounts/login/", data=body, timeout=10)
    assert landed.geturl() == base_url, "signing in did not lead to the inbox"
    return browser


def row_counts(database: Path) -> dict[str, int]:
    tables = ("accounts_user", "workflows_workflowinstance", "humantasks_humantask", "audit_auditevent")
    with sqlite3.connect(database) as connection:
        return {table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in tables}


def answer(browser: urllib.request.OpenerDirector, url: str, data: bytes | None = None) -> tuple[int, str]:
    try:
        with browser.open(url, data=data, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def assert_served_without_debug(base_url: str, browser: urllib.request.OpenerDirector) -> None:
    """The site's own pages, never Django's debug page (which shows the settings), and the
    static files still served."""
    status, page = answer(browser, base_url + "tasks/987654/")
    assert status == 404 and "There is no such page, or it is not open to you." in page
    assert "DEBUG = True" not in page and "Traceback" not in page
    form = answer(browser, base_url + "start/purchase_order/")[1]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    body = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "description": "x" * 1_200_000}).encode()
    status, page = answer(browser, base_url + "start/purchase_order/", body)
    assert status == 413 and "That was too large to accept" in page
    status, css = answer(browser, base_url + "static/css/app.css")
    assert status == 200 and "--accent" in css


def test_start_serves_the_demo_and_a_second_run_keeps_its_data(tmp_path):
    with running_start(tmp_path) as first:
        password = first.password_of("lead1")
        assert "13 processes created" in first.output
        inbox = sign_in(first.url, "lead1", password).open(first.url, timeout=10).read().decode()
        assert "Team lead approval: purchase order PO-DEMO-1001" in inbox
        assert "Carla Jensen" in inbox
        finance = sign_in(first.url, "finance1", password).open(first.url, timeout=10).read().decode()
        assert "PO-DEMO-1002" in finance and "PO-DEMO-1001" not in finance
        assert_served_without_debug(first.url, sign_in(first.url, "requester1", password))
    after_first = row_counts(tmp_path / "db.sqlite3")
    assert after_first["workflows_workflowinstance"] == 13

    with running_start(tmp_path) as second:
        assert "nothing created" in second.output
        assert second.password_of("lead1") == password
        inbox = sign_in(second.url, "lead1", password).open(second.url, timeout=10).read().decode()
        assert "PO-DEMO-1001" in inbox
    assert row_counts(tmp_path / "db.sqlite3") == {
        **after_first,
        # Each sign-in is an audit event of its own; nothing else was added.
        "audit_auditevent": after_first["audit_auditevent"] + 1,
    }


def test_start_explains_itself():
    result = subprocess.run(
        [sys.executable, "manage.py", "start", "--help"],
        cwd=settings.BASE_DIR,
        env={
            **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
            "DATABASE_URL": "sqlite://",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "--port" in result.stdout and "demo" in result.stdout


def _start_refused(tmp_path: Path, port: int, **environment: str) -> str:
    """Run `start` on an empty SQLite database; assert that it refused before setting anything
    up (exit 1, no database file); its standard error."""
    result = subprocess.run(
        [sys.executable, "manage.py", "start", "--port", str(port), "--no-worker"],
        cwd=settings.BASE_DIR,
        env={
            **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            **environment,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert not (tmp_path / "db.sqlite3").exists()
    return result.stderr


def test_start_refuses_a_port_in_use_and_says_so(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        said = _start_refused(tmp_path, port)
    assert f"Port {port} on 127.0.0.1 is in use by another program" in said


def test_start_refuses_a_relay_woken_by_the_database_on_sqlite_before_setting_anything_up(tmp_path):
    said = _start_refused(tmp_path, free_port(), OUTBOX_RELAY_NUDGE="notify")
    assert "OUTBOX_RELAY_NUDGE=notify needs PostgreSQL" in said


def test_on_the_embedded_default_a_reminder_the_worker_sends_reaches_an_open_inbox(tmp_path):
    """No Redis: the worker child's beat reminds lead1 of a task falling due, and lead1's open
    socket on the web process hears the reminder and the bell (the web process relays the
    outbox and rings the bell; the worker's in-memory channel layer reaches no socket)."""
    import json

    from websockets.sync.client import connect

    with running_start(tmp_path, SLA_TIMER_SECONDS="1") as server:
        browser = sign_in(server.url, "lead1", server.password_of("lead1"))
        inbox = browser.open(server.url, timeout=10).read().decode()
        task_id = int(re.search(r'data-task-id="(\d+)"', inbox).group(1))
        [jar] = [h.cookiejar for h in browser.handlers if isinstance(h, urllib.request.HTTPCookieProcessor)]
        session = next(cookie.value for cookie in jar if cookie.name == "sessionid")
        socket_url = server.url.replace("http://", "ws://") + "ws/inbox/"
        with connect(
            socket_url, origin=server.url.rstrip("/"), additional_headers={"Cookie": f"sessionid={session}"}
        ) as socket:
            assert json.loads(socket.recv(timeout=10))["type"] == "hello"
            socket.send(json.dumps({"type": "resume", "after": None}))
            while json.loads(socket.recv(timeout=10))["type"] != "resumed":
                pass
            # lead1 holds the task, due in ten minutes: inside the reminder window.
            with sqlite3.connect(tmp_path / "db.sqlite3", timeout=30) as database:
                [lead1] = database.execute("SELECT id FROM accounts_user WHERE username = 'lead1'").fetchone()
                database.execute(
                    "UPDATE humantasks_humantask SET state = 'claimed', assignee_id = ?, reminded_at = NULL,"
                    " due_at = datetime('now', '+10 minutes') WHERE id = ?",
                    [lead1, task_id],
                )
            heard: list[dict] = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (
                any(f.get("topic") == "task.reminder" and f["data"]["task"] == task_id for f in heard)
                and any(f["type"] == "bell" for f in heard)
            ):
                with suppress(TimeoutError):
                    heard.append(json.loads(socket.recv(timeout=1)))
        reminders = [f for f in heard if f.get("topic") == "task.reminder" and f["data"]["task"] == task_id]
        assert [f["stream"] for f in reminders] == [f"user-{lead1}"], heard
        assert any(f["type"] == "bell" for f in heard), heard
        status, bell = answer(browser, server.url + "notifications/bell/")
        assert status == 200 and "Falls due soon" in bell
