"""A web process whose PostgreSQL cannot be reached answers 503 with Retry-After (problem+json
under /api/, a page elsewhere), never a 500: a real Daphne pointed at a port where no
PostgreSQL listens. What happens to a request cut off mid-transaction by a restart is in
tests/faults/test_database_restart.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from config.env import env
from tests.celery_workers import free_port
from tests.web_servers import WebServer, WebServers

RETRY_AFTER = 7


@pytest.fixture(scope="module")
def without_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    directory: Path = tmp_path_factory.mktemp("no-database")
    servers = WebServers(
        {
            **env.ENVIRON,
            # Bound by nobody: every connection attempt is refused, as while PostgreSQL restarts.
            "TEST_DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/gone",
            "SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS": str(RETRY_AFTER),
            "DJANGO_LOG_LEVEL": "CRITICAL",
        },
        directory,
    )
    [server] = servers.start(1)
    yield server
    servers.stop_all()


def test_the_api_answers_503_problem_json_with_retry_after(without_database):
    for method, path, body in (
        ("GET", "/api/v1/queues/", None),
        ("POST", "/api/v1/instances/", {"kind": "purchase_order", "business_key": "PO-1", "data": {}}),
    ):
        response = httpx.request(
            method,
            f"{without_database.url}{path}",
            json=body,
            headers={"Authorization": "Api-Key ak_abc.def", "Idempotency-Key": "k-1"},
            timeout=30,
        )
        assert response.status_code == 503, response.text
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.headers["Retry-After"] == str(RETRY_AFTER)
        problem = response.json()
        assert problem["type"] == "urn:approval-inbox:problem:service-unavailable"
        assert (problem["status"], problem["code"], problem["instance"]) == (503, "service-unavailable", path)
        assert "nothing was changed" in problem["detail"]


def test_a_page_answers_a_friendly_503_with_retry_after(without_database):
    # A session cookie makes the middleware read the session (and the person) from the database.
    response = httpx.get(f"{without_database.url}/", cookies={"sessionid": "x" * 32}, timeout=30)

    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(RETRY_AFTER)
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Back in a moment" in response.text
    assert f"try again in {RETRY_AFTER} seconds" in response.text
    assert "Traceback" not in response.text
    # Still under the site's security headers.
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_what_needs_no_database_still_answers(without_database):
    assert httpx.get(f"{without_database.url}/accounts/login/", timeout=30).status_code == 200
    unauthenticated = httpx.get(f"{without_database.url}/api/v1/queues/", timeout=30)
    assert unauthenticated.status_code == 401
