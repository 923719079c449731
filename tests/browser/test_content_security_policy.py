"""Under the strict Content-Security-Policy, the pages still work in a real browser: the
Swagger UI at /api/docs/ renders the schema, the inbox and the admin run, and the browser
reports no violation anywhere."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _violations(page: Page) -> list[str]:
    found: list[str] = []
    page.on(
        "console",
        lambda message: found.append(message.text) if "Content Security Policy" in message.text else None,
    )
    return found


def test_swagger_ui_renders_the_schema_under_the_policy(page):
    violations = _violations(page)
    response = page.goto("/api/docs/")
    assert "script-src 'self'" in response.headers["content-security-policy"]

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Approval inbox API")
    expect(page.get_by_text("/api/v1/instances/", exact=True).first).to_be_visible()
    assert violations == []


def test_the_inbox_and_the_admin_run_without_a_violation(page, queues):
    violations = _violations(page)
    sign_in(page, UserFactory(username="root", is_staff=True, is_superuser=True))
    page.goto("/admin/")
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    page.goto("/admin/humantasks/humantask/")
    expect(page.locator("#changelist")).to_be_visible()
    page.goto("/admin/humantasks/queue/add/")
    expect(page.locator("#queue_form")).to_be_visible()
    assert violations == []
