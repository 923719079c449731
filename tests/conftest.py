"""Shared fixtures: the standard roles and queues, people in them, and a purchase order.

Process data and started processes are built by tests/factories.py."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from _pytest.nodeid import coerce_node_id  # pytest has no public way to rename an item
from django.db import connection

from apps.accounts.models import User
from apps.accounts.services import roles_ensure
from apps.core.rate_limits import rate_limits_reset_process
from apps.humantasks.models import Queue
from apps.humantasks.services import queues_ensure_standard
from apps.workflows.models import WorkflowInstance
from config.env import env
from tests.db_state import triggers_ignored_setting
from tests.factories import UserFactory, start_purchase_order


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    redis_missing = env.bool("TEST_REDIS_UNAVAILABLE", default=False)
    for item in items:
        # Schemathesis names each API operation's item ("test[GET /api/v1/tasks/]") but gives
        # them all the function's node id; pytest-xdist keys its work by node id, so in
        # parallel runs all but one operation were dropped. The operation goes in the id.
        if item.name.startswith(item.nodeid.rpartition("::")[2] + "[") and "[" not in item.nodeid:
            item._id = coerce_node_id(item.nodeid + item.name[item.name.index("[") :])
    seen: set[str] = set()
    for item in items:
        if item.nodeid in seen:
            raise pytest.UsageError(f"two tests share the node id {item.nodeid}; pytest-xdist would run one")
        seen.add(item.nodeid)
        if redis_missing and "redis" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="Redis is unreachable (allowed outside CI only)"))


def _audit_triggers_ignored(ignored: str) -> Callable[..., Any]:
    def execute(run: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        if sql.lstrip().upper().startswith("TRUNCATE"):
            context["cursor"].cursor.execute("SELECT set_config('pgtrigger.ignore', %s, true)", [ignored])
        return run(sql, params, many, context)

    return execute


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> object:
    # A transactional test (django_db(transaction=True)) ends with Django's flush, one TRUNCATE
    # of every table, which the audit log's append-only triggers rightly refuse. Let the
    # teardown's transaction, and only it, through; the tests themselves run with the triggers on.
    ignored = triggers_ignored_setting(
        "audit.AuditEvent:audit_append_only", "audit.AuditEvent:audit_no_truncate"
    )
    with connection.execute_wrapper(_audit_triggers_ignored(ignored)):
        return (yield)


@pytest.fixture(autouse=True)
def _forget_rate_limit_hits() -> None:
    # Sign-in attempts and API requests are counted in process-wide windows; each test starts with none.
    rate_limits_reset_process()


@pytest.fixture(autouse=True)
def _forget_live_events() -> None:
    # The in-process live event store numbers events by outbox id and drops repeats; ids start
    # over between tests, so an event of one test would pass for a repeat in the next.
    from apps.notifications import live

    with live._stores_lock:
        live._stores.clear()


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


@pytest.fixture
def order(people: dict[str, User]) -> WorkflowInstance:
    """A 1,200 EUR purchase order (PO-1) from `requester`, waiting for a team lead."""
    return start_purchase_order(people["requester"])


@pytest.fixture
def is_postgres(db: None) -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def live_on(settings: Any) -> Iterator[Callable[..., str]]:
    """Point this process's channel layer and live event store at a Redis (by URL), under
    keys of this test's own (the prefix it returns); back to the test settings afterwards."""
    from channels.layers import channel_layers

    from config.settings import CHANNEL_LAYER_KIND, channel_layers_on_redis

    def point(url: str, prefix: str | None = None) -> str:
        prefix = prefix or f"t{uuid.uuid4().hex[:12]}"
        settings.CHANNEL_LAYERS = channel_layers_on_redis(url, prefix=prefix, kind=CHANNEL_LAYER_KIND)
        settings.LIVE_REDIS_URL = url
        settings.LIVE_KEY_PREFIX = prefix
        channel_layers.backends.clear()
        return prefix

    yield point
    channel_layers.backends.clear()
