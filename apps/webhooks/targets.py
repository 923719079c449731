"""Sending one webhook request safely (SSRF): the target's host is resolved at delivery time,
every address it resolves to is checked, and the connection goes to the checked address
(with the URL's host as Host header and TLS server name), so a DNS answer that changes
between the check and the connect (rebinding) cannot move the request elsewhere.

Timeouts bound the connect and the whole exchange; the answer's body is read only up to
WEBHOOKS_RESPONSE_MAX_BYTES; redirects are not followed (a 3xx is a failed attempt).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx
from django.conf import settings


class TargetRefused(Exception):
    """The URL may not be called: a private address, a scheme we do not send to."""


@dataclass(frozen=True)
class Answer:
    status_code: int | None
    latency_ms: int
    excerpt: str = ""
    error: str = ""
    retry_after: float | None = None


def address_refusal(address: str) -> str:
    """Why `address` may not be a webhook target, or "" when it may."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local:
            return f"a site-local address ({ip})"
        # IPv4-mapped and 6to4 addresses reach the IPv4 address they carry: judge that one.
        ip = ip.ipv4_mapped or ip.sixtofour or ip
    for test, what in (
        ("is_loopback", "a loopback"),
        ("is_private", "a private"),
        ("is_link_local", "a link-local"),
        ("is_multicast", "a multicast"),
        ("is_unspecified", "an unspecified"),
        ("is_reserved", "a reserved"),
    ):
        if getattr(ip, test):
            return f"{what} address ({ip})"
    if not ip.is_global:
        return f"a non-public address ({ip})"
    return ""


def url_refusal(url: str) -> str:
    """Why `url` may not be a webhook target whatever it resolves to, or ""."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return "the URL must be http(s) with a host"
    if parts.scheme == "http" and not settings.WEBHOOKS_ALLOW_HTTP:
        return "the URL must be https"
    if parts.username or parts.password:
        return "the URL may not carry a user name or password"
    try:
        port = parts.port
    except ValueError:  # beyond 65535, or not a number
        port = 0
    if port == 0:
        return "the URL's port must be between 1 and 65535"
    return ""


def _resolve(host: str, port: int) -> str:
    """The address to connect to: every address `host` resolves to must be allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise TargetRefused(f"the host {host!r} does not resolve ({error.strerror})") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS:
        for address in addresses:
            refusal = address_refusal(address)
            if refusal:
                raise TargetRefused(f"{host} resolves to {refusal}; webhooks go to public addresses only")
    return addresses[0]


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def post(*, url: str, body: str, headers: dict[str, str]) -> Answer:
    """POST `body` to `url`; never raises for what the target does (that is the Answer)."""
    started = time.monotonic()

    def answer(**fields: object) -> Answer:
        return Answer(latency_ms=int((time.monotonic() - started) * 1000), **fields)  # type: ignore[arg-type]

    refusal = url_refusal(url)
    if refusal:
        return answer(status_code=None, error=f"refused: {refusal}")
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        address = _resolve(parts.hostname or "", port)
    except TargetRefused as error:
        return answer(status_code=None, error=f"refused: {error}")
    literal = f"[{address}]" if ":" in address else address
    connect_url = parts._replace(netloc=f"{literal}:{port}").geturl()
    total = settings.WEBHOOKS_TIMEOUT_SECONDS
    timeout = httpx.Timeout(total, connect=min(settings.WEBHOOKS_CONNECT_TIMEOUT_SECONDS, total))
    cap = settings.WEBHOOKS_RESPONSE_MAX_BYTES
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            request = client.build_request(
                "POST",
                connect_url,
                content=body.encode(),
                headers={
                    **headers,
                    "Host": parts.netloc.rsplit("@", 1)[-1],
                    "Content-Type": "application/json",
                    "User-Agent": "approval-inbox-webhooks/1",
                },
                # The certificate is checked against the URL's host, not the address.
                extensions={"sni_hostname": parts.hostname},
            )
            response = client.send(request, stream=True)
            try:
                received = bytearray()
                for chunk in response.iter_raw():
                    received += chunk
                    if len(received) >= cap:
                        break
                    if time.monotonic() - started > total:
                        raise httpx.ReadTimeout("the answer took longer than the total timeout")
            finally:
                response.close()
            return answer(
                status_code=response.status_code,
                excerpt=bytes(received[:cap]).decode(errors="replace")[: settings.WEBHOOKS_EXCERPT_CHARS],
                retry_after=_retry_after(response.headers.get("Retry-After")),
            )
    except httpx.TimeoutException as error:
        return answer(status_code=None, error=f"timeout: {error or type(error).__name__}"[:500])
    except httpx.HTTPError as error:
        return answer(status_code=None, error=f"{type(error).__name__}: {error}"[:500])
