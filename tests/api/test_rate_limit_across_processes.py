"""The per-key limit holds under concurrency across web processes: 8 clients share one fresh
API key over two Daphne processes and one Redis, and get at most the limit's successes."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from apps.accounts.services import api_key_create
from config.env import env
from tests import celery_workers
from tests.celery_workers import own_redis  # noqa: F401 (a fixture)
from tests.web_servers import WebServers

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

LIMIT = 20
CLIENTS = 8
REQUESTS = 160


def test_eight_clients_over_two_processes_get_at_most_the_limit(people, own_redis, tmp_path):  # noqa: F811
    servers = WebServers(
        {
            **env.ENVIRON,
            "TEST_DATABASE_URL": celery_workers.test_database_url(),
            "RATE_LIMIT_REDIS_URL": own_redis.url,
            "API_THROTTLE_CLIENT": f"{LIMIT}/minute",
            "API_THROTTLE_USER": "100000/minute",
        },
        tmp_path,
    )
    urls = [server.url for server in servers.start(2)]
    _key, raw_key = api_key_create(user=people["lead"], name="burst", actor=None)
    try:
        with httpx.Client(headers={"Authorization": f"Api-Key {raw_key}"}, timeout=30) as http:

            def call(n: int) -> httpx.Response:
                return http.get(f"{urls[n % 2]}/api/v1/queues/")

            began = time.monotonic()
            with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
                responses = list(pool.map(call, range(REQUESTS)))
            elapsed = time.monotonic() - began
    finally:
        servers.stop_all()

    statuses = Counter(response.status_code for response in responses)
    windows = 1 + int(elapsed // 60)  # the burst takes a second or two: one window
    assert set(statuses) == {200, 429}, statuses
    assert LIMIT <= statuses[200] <= LIMIT * windows, statuses
    for refused in (r for r in responses if r.status_code == 429):
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.headers["Content-Type"] == "application/problem+json"
    # Both processes answered, and both refused: the count was one, shared.
    by_server = Counter((str(r.url).split("/api")[0], r.status_code) for r in responses)
    assert all(by_server[(url, 429)] > 0 for url in urls), by_server
    print(f"\nrate limit {LIMIT}/minute, {CLIENTS} clients, 2 processes: {dict(statuses)} in {elapsed:.1f}s")
