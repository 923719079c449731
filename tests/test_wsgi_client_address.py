"""Behind the proxy, the WSGI application takes the client's address from the last hop of
X-Forwarded-For (what docker/nginx.conf sets); anything that is not one address is ignored."""

from __future__ import annotations

import pytest

from config.wsgi import client_address_from_proxy


def _remote_addr(**environ: str) -> str:
    seen = {}

    def app(environ, start_response):
        seen["address"] = environ["REMOTE_ADDR"]
        return []

    client_address_from_proxy(app)({"REMOTE_ADDR": "172.18.0.5", **environ}, lambda *args: None)
    return seen["address"]


@pytest.mark.parametrize(
    ("forwarded", "address"),
    [
        ("203.0.113.7", "203.0.113.7"),
        # A client's own header before the proxy's hop does not count.
        ("198.51.100.1, 203.0.113.7", "203.0.113.7"),
        ("2001:db8::1", "2001:db8::1"),
        ("not-an-address", "172.18.0.5"),
        ("", "172.18.0.5"),
    ],
)
def test_the_client_is_the_proxys_last_hop(forwarded, address):
    assert _remote_addr(HTTP_X_FORWARDED_FOR=forwarded) == address


def test_without_the_header_the_peer_stays():
    assert _remote_addr() == "172.18.0.5"
