"""Shared fixtures: the standard roles and queues, people in them, and process data."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pgtrigger
import pytest
from django.core.cache import caches
from django.db import connection

from apps.accounts.models import User
from apps.accounts.services import roles_ensure
from apps.humantasks.models import Queue
from apps.humantasks.services import queues_ensure_standard
from config.env import env
from tests.factories import UserFactory


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    redis_missing = env.bool("TEST_REDIS_UNAVAILABLE", default=False)
    for item in items:
        if redis_missing and "redis" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="Redis is unreachable (allowed outside CI only)"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> object:
    # A transactional test (django_db(transaction=True)) ends with Django's flush, one TRUNCATE
    # of every table, which the audit log's append-only triggers rightly refuse. Let the
    # teardown, and only the teardown, through; the tests themselves run with the triggers on.
    with pgtrigger.ignore("audit.AuditEvent:audit_append_only", "audit.AuditEvent:audit_no_truncate"):
        return (yield)


@pytest.fixture(autouse=True)
def _forget_failed_sign_ins() -> None:
    # Failed sign-in counts live in a process-wide cache; each test starts with none.
    caches["sign-in"].clear()


@pytest.fixture(autouse=True)
def _skip_postgres_only_on_sqlite(request: pytest.FixtureRequest) -> None:
    if "postgres" in request.keywords and env.str("TEST_DATABASE_URL", default="postgres").startswith(
        "sqlite"
    ):
        pytest.skip("needs PostgreSQL (allowed outside CI only)")


@pytest.fixture
def queues(db: None) -> dict[str, Queue]:
    """Every standard role, with its queue, managed by the Managers role."""
    # The roles without a queue (Auditors, Integrations) too, or people made in them get no group.
    roles_ensure()
    return queues_ensure_standard(actor=None)


@pytest.fixture
def make_user(queues: dict[str, Queue]) -> Callable[..., User]:
    def make(*roles: str, **fields: Any) -> User:
        return UserFactory(roles=list(roles), **fields)

    return make


@pytest.fixture
def people(make_user: Callable[..., User]) -> dict[str, User]:
    """Two people in every queue role, plus a manager, an auditor and an integration client."""
    return {
        "requester": make_user("Requesters", username="requester"),
        "requester2": make_user("Requesters", username="requester2"),
        "lead": make_user("Team leads", username="lead"),
        "lead2": make_user("Team leads", username="lead2"),
        "finance": make_user("Finance", username="finance"),
        "finance2": make_user("Finance", username="finance2"),
        "finance3": make_user("Finance", username="finance3"),
        "cfo": make_user("CFO", username="cfo"),
        "cfo2": make_user("CFO", username="cfo2"),
        "risk": make_user("Risk officers", username="risk"),
        "risk2": make_user("Risk officers", username="risk2"),
        "payroll": make_user("Payroll", username="payroll"),
        "payroll2": make_user("Payroll", username="payroll2"),
        "it": make_user("IT", username="it"),
        "it2": make_user("IT", username="it2"),
        "hr": make_user("HR", username="hr"),
        "hr2": make_user("HR", username="hr2"),
        "manager": make_user("Managers", username="manager"),
        "auditor": make_user("Auditors", username="auditor"),
        "integration": make_user("Integrations", username="erp"),
        "outsider": make_user(username="outsider"),
    }


def purchase_order_data(amount: float = 1200, **overrides: Any) -> dict[str, Any]:
    return {
        "amount": amount,
        "currency": "EUR",
        "supplier": "Acme Tools",
        "description": "Drills",
        **overrides,
    }


def account_activation_data(**overrides: Any) -> dict[str, Any]:
    return {
        "customer_name": "Ada Lovelace",
        "customer_email": "ada@example.com",
        "national_id": "AB-1234",
        "employer": "Analytical Engines Ltd",
        "requested_limit": 5000,
        **overrides,
    }


def employee_onboarding_data(**overrides: Any) -> dict[str, Any]:
    return {
        "employee_name": "Grace Hopper",
        "employee_email": "grace@example.com",
        "start_date": "2027-01-04",
        "department": "Engineering",
        "job_title": "Compiler engineer",
        **overrides,
    }


@pytest.fixture
def is_postgres(db: None) -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def live_on(settings: Any) -> Iterator[Callable[..., str]]:
    """Point this process's channel layer and live event store at a Redis (by URL), under
    keys of this test's own (the prefix it returns); back to the test settings afterwards."""
    from channels.layers import channel_layers

    from config.settings import channel_layer_host

    def point(url: str, prefix: str | None = None) -> str:
        prefix = prefix or f"t{uuid.uuid4().hex[:12]}"
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": [channel_layer_host(url)], "prefix": prefix},
            }
        }
        settings.LIVE_REDIS_URL = url
        settings.LIVE_KEY_PREFIX = prefix
        channel_layers.backends.clear()
        return prefix

    yield point
    channel_layers.backends.clear()
