"""Which addresses a webhook may be sent to (SSRF): every address a target resolves to is
judged, including IPv4 addresses carried inside IPv6 ones."""

from __future__ import annotations

import pytest

from apps.webhooks import targets
from apps.webhooks.targets import address_refusal


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "::",
        "fd00::1",
        "fe80::1",
        "ff02::1",
        # IPv4-mapped and IPv4-compatible forms of private addresses.
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::10.0.0.1",
        # NAT64 (64:ff9b::/96) reaches the IPv4 address it embeds.
        "64:ff9b::a00:1",
        # 6to4 (2002::/16) reaches the IPv4 address it embeds through a relay.
        "2002:7f00:1::",
        "2002:a00:1::1",
        "2002:a9fe:a9fe::",
        # Deprecated site-local addresses are still routed inside some networks.
        "fec0::1",
    ],
)
def test_non_public_addresses_are_refused(address):
    assert address_refusal(address) != ""


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700::1111", "2002:808:808::"])
def test_public_addresses_are_allowed(address):
    # 2002:808:808:: is 6to4 for 8.8.8.8, a public address.
    assert address_refusal(address) == ""


@pytest.mark.parametrize("url", ["https://erp.example.com:99999/hooks", "https://erp.example.com:0/hooks"])
def test_a_url_with_an_impossible_port_is_a_refused_attempt_not_an_exception(url):
    # Endpoints stored before the check: the attempt is recorded as refused, so the
    # delivery follows its retry schedule instead of failing its job for ever.
    answer = targets.post(url=url, body="{}", headers={})
    assert answer.status_code is None and answer.error.startswith("refused: ")
