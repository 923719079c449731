from __future__ import annotations

from collections.abc import Iterator

import pytest

from apps.automation.breakers import breakers_forget
from tests.celery_workers import own_redis, publishing_to, workers  # noqa: F401 (fixtures)
from tests.external_systems import external_system  # noqa: F401 (a fixture)


@pytest.fixture(autouse=True)
def _fresh_breakers() -> Iterator[None]:
    # Breakers are per process and built from settings; each test gets its own.
    breakers_forget()
    yield
    breakers_forget()


@pytest.fixture
def http_systems(settings, external_system):  # noqa: F811
    """The account-activation checks call the loopback external system over HTTP, quickly."""
    settings.AUTOMATION_ADAPTERS = {
        "credit_bureau": "apps.automation.adapters.HttpCreditBureau",
        "employment_verifier": "apps.automation.adapters.HttpEmploymentVerifier",
    }
    settings.AUTOMATION_CREDIT_BUREAU_URL = external_system.url
    settings.AUTOMATION_EMPLOYMENT_VERIFIER_URL = external_system.url
    settings.AUTOMATION_HTTP_TIMEOUT_SECONDS = 0.5
    settings.AUTOMATION_BACKOFF_SECONDS = 0
    settings.AUTOMATION_MAX_ATTEMPTS = 4
    settings.AUTOMATION_BREAKER_REDIS_URL = ""
    settings.AUTOMATION_BREAKER_FAILURES = 50
    return external_system
