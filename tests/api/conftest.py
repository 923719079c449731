"""API tests: every call goes over HTTP (DRF's test client or a live server) with an API key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.accounts.models import User
from apps.accounts.services import api_key_create
from tests.identity_provider import identity_provider  # noqa: F401 (a fixture for the bearer-token tests)


@pytest.fixture
def key_for(db: None) -> Callable[[User], str]:
    keys: dict[int, str] = {}

    def key(user: User) -> str:
        if user.pk not in keys:
            keys[user.pk] = api_key_create(user=user, name=f"tests: {user.username}", actor=None)[1]
        return keys[user.pk]

    return key


@pytest.fixture
def api(key_for: Callable[[User], str]) -> Callable[[User], APIClient]:
    """api(user) -> a client that sends `Authorization: Api-Key <that user's key>` on every request."""

    def client_for(user: User) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(user)}")
        return client

    return client_for


def start(client: APIClient, kind: str, business_key: str, data: dict[str, Any], **headers: str) -> Any:
    return client.post(
        "/api/v1/instances/",
        {"kind": kind, "business_key": business_key, "data": data},
        format="json",
        headers=headers,
    )


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """Assert `response` is the problem+json answer `status`/`code` and return its body."""
    assert response.status_code == status, (response.status_code, getattr(response, "content", b"")[:500])
    assert response["Content-Type"] == "application/problem+json", response["Content-Type"]
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["type"] == f"urn:approval-inbox:problem:{code}"
    assert body["title"] and body["detail"]
    return body
