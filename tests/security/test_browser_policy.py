"""Every page, as every role, carries the strict Content-Security-Policy and the other
security headers, and its HTML holds no inline script, style, `style=` or `on*=` handler.

The pages are found by crawling from the entry points, following links and the GET forms'
targets, so a page another engineer adds is checked as soon as something links to it.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.test import Client

from apps.workflows.services import instance_start
from tests.factories import UserFactory, purchase_order_data

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

ROLES = ("anonymous", "requester", "lead", "finance", "manager", "auditor", "outsider", "superuser")
ENTRY_POINTS = ("/", "/accounts/login/", "/admin/", "/api/docs/", "/api/v1/", "/no-such-page/")
# Links a crawl must not follow: they change things or leave the site's pages.
NOT_FOLLOWED = re.compile(r"^/(accounts/logout|admin/logout|oidc/|static/|api/schema)|/(delete|history)/$")
PAGES_PER_ROLE = 150
STRICT = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
    "base-uri": "'none'",
    "object-src": "'none'",
}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "style":
            self.inline.append("<style> element")
        if tag == "script" and not named.get("src") and named.get("type") != "application/json":
            self.inline.append(f"inline <script {named}>")
        for name, value in attrs:
            if name == "style" or name.startswith("on"):
                self.inline.append(f"<{tag} {name}={value!r}>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.inline.append(f"<{tag} {name}={value!r}>")
        if tag == "a" and named.get("href"):
            self.links.append(named["href"])
        if tag == "form" and (named.get("method") or "get").lower() == "get" and named.get("action"):
            self.links.append(named["action"])


def _policy(header: str) -> dict[str, str]:
    directives = (part.strip().split(None, 1) for part in header.split(";") if part.strip())
    return {parts[0]: (parts[1] if len(parts) > 1 else "") for parts in directives}


def _client_for(role: str, people) -> Client:
    client = Client()
    if role == "superuser":
        client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    elif role != "anonymous":
        if role == "auditor":
            people["auditor"].is_staff = True
            people["auditor"].save()
        client.force_login(people[role])
    return client


@pytest.fixture
def some_work(people):
    """An order at the team lead, one sent back to its requester, so task pages exist to reach."""
    instance_start(
        kind="purchase_order",
        business_key="PO-CRAWL-1",
        data=purchase_order_data(),
        actor=people["requester"],
    )
    instance_start(
        kind="purchase_order",
        business_key="PO-CRAWL-2",
        data=purchase_order_data(20_000),
        actor=people["requester"],
    )


@pytest.mark.parametrize("role", ROLES)
def test_every_page_has_the_strict_policy_and_no_inline_code(role, people, some_work):
    client = _client_for(role, people)
    queue, seen, checked, problems = list(ENTRY_POINTS), set(), 0, []
    while queue and checked < PAGES_PER_ROLE:
        url = queue.pop(0)
        # One object and one query of each kind of page: /admin/accounts/user/N/change/?
        key = re.sub(r"/\d+/", "/N/", urlsplit(url).path) + ("?" if urlsplit(url).query else "")
        if key in seen:
            continue
        seen.add(key)
        response = client.get(url)
        if response.status_code in (301, 302):
            location = urlsplit(urljoin(url, response["Location"]))
            if location.netloc in ("", "testserver"):
                queue.append(location.path + (f"?{location.query}" if location.query else ""))
            continue
        checked += 1
        policy = _policy(response.get("Content-Security-Policy", ""))
        for directive, sources in STRICT.items():
            if policy.get(directive) != sources:
                problems.append(f"{url}: {directive} is {policy.get(directive)!r}, not {sources!r}")
        assert "unsafe" not in response.get("Content-Security-Policy", ""), url
        assert response.get("X-Content-Type-Options") == "nosniff", url
        assert response.get("Referrer-Policy") == "same-origin", url
        assert "camera=()" in response.get("Permissions-Policy", ""), url
        if not response.get("Content-Type", "").startswith("text/html"):
            continue
        page = _Page()
        page.feed(response.content.decode())
        problems += [f"{url}: {finding}" for finding in page.inline]
        for link in page.links:
            target = urlsplit(urljoin(url, link))
            own = target.netloc in ("", "testserver") and target.path.startswith("/")
            if own and not NOT_FOLLOWED.search(target.path):
                queue.append(target.path + (f"?{target.query}" if target.query else ""))
    assert checked >= 3, f"the crawl as {role} reached only {sorted(seen)}"
    assert problems == [], "\n".join(problems)
