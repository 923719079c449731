"""A small OpenID Connect provider on loopback for tests: the authorization, token and userinfo
endpoints over real HTTP, id tokens signed with the client secret (HS256).

`provider.person` is whoever "signs in at the provider" next: /authorize issues a code for
those claims. Bearer tokens for the API can be handed out directly with `provider.issue_token`
(opaque, or JWTs that expire) and withdrawn with `provider.revoke`.

Its discovery document names /logout as the end_session_endpoint (RP-Initiated Logout) unless
`ends_sessions` is false; `provider.sessions` holds the `sub` of everyone signed in there.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest

CLIENT_ID = "approval-inbox"
CLIENT_SECRET = "test-client-secret-long-enough-for-hs256-0123456789"


@dataclass
class IdentityProvider:
    url: str = ""
    person: dict[str, Any] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    ends_sessions: bool = True
    sessions: set[str] = field(default_factory=set)
    _codes: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)
    _tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue_token(self, claims: dict[str, Any], *, expires_in: int | None = None) -> str:
        """An opaque token, or with `expires_in` a signed JWT whose `exp` the provider keeps to."""
        if expires_in is None:
            token = secrets.token_urlsafe(16)
            expires_at = None
        else:
            expires_at = int(time.time()) + expires_in
            token = jwt.encode(
                {
                    "iss": self.url,
                    "sub": claims.get("sub", ""),
                    "exp": expires_at,
                    "jti": secrets.token_hex(8),
                },
                CLIENT_SECRET,
                algorithm="HS256",
            )
        with self._lock:
            self._tokens[token] = {**claims, "_expires_at": expires_at}
        return token

    def revoke(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def discovery(self) -> tuple[int, dict[str, str], Any]:
        document = {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "userinfo_endpoint": f"{self.url}/userinfo",
        }
        if self.ends_sessions:
            document["end_session_endpoint"] = f"{self.url}/logout"
        return 200, {}, document

    def end_session(self, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if not self.ends_sessions:
            return 404, {}, None
        try:
            hint = jwt.decode(
                query.get("id_token_hint", ""), CLIENT_SECRET, algorithms=["HS256"], audience=CLIENT_ID
            )
        except jwt.InvalidTokenError:
            return 400, {}, {"error": "invalid_request", "error_description": "bad id_token_hint"}
        if query.get("client_id") != CLIENT_ID:
            return 400, {}, {"error": "invalid_request", "error_description": "unknown client"}
        with self._lock:
            self.sessions.discard(hint["sub"])
        back = query.get("post_logout_redirect_uri")
        return (302, {"Location": back}, None) if back else (200, {}, {"signed_out": hint["sub"]})

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
            return 400, {}, {"error": "invalid_request"}
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = (dict(self.person), query.get("nonce", ""))
        back = urlencode({"code": code, "state": query.get("state", "")})
        return 302, {"Location": f"{query['redirect_uri']}?{back}"}, None

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return 401, {}, {"error": "invalid_client"}
        with self._lock:
            issued = self._codes.pop(form.get("code", ""), None)  # a code is good once
        if issued is None or form.get("grant_type") != "authorization_code":
            return 400, {}, {"error": "invalid_grant"}
        claims, nonce = issued
        with self._lock:
            self.sessions.add(claims.get("sub", ""))
        now = int(time.time())
        id_token = jwt.encode(
            {
                "iss": self.url,
                "aud": CLIENT_ID,
                "sub": claims.get("sub", ""),
                "iat": now,
                "exp": now + 300,
                "nonce": nonce,
            },
            CLIENT_SECRET,
            algorithm="HS256",
        )
        return (
            200,
            {},
            {"access_token": self.issue_token(claims), "id_token": id_token, "token_type": "Bearer"},
        )

    def userinfo(self, authorization: str) -> tuple[int, dict[str, str], Any]:
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            claims = self._tokens.get(token) if scheme == "Bearer" else None
        if claims is not None and claims["_expires_at"] is not None and claims["_expires_at"] <= time.time():
            claims = None
        if claims is None:
            return (
                401,
                {"WWW-Authenticate": 'Bearer error="invalid_token", error_description="expired"'},
                None,
            )
        return 200, {}, {name: value for name, value in claims.items() if name != "_expires_at"}


class _Handler(BaseHTTPRequestHandler):
    provider: IdentityProvider

    def _answer(self, status: int, headers: dict[str, str], body: Any) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        payload = b"" if body is None else json.dumps(body).encode()
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        self.provider.hits.append(url.path)
        if url.path == "/authorize":
            query = {key: values[0] for key, values in parse_qs(url.query).items()}
            self._answer(*self.provider.authorize(query))
        elif url.path == "/userinfo":
            self._answer(*self.provider.userinfo(self.headers.get("Authorization", "")))
        elif url.path == "/.well-known/openid-configuration":
            self._answer(*self.provider.discovery())
        elif url.path == "/logout":
            query = {key: values[0] for key, values in parse_qs(url.query).items()}
            self._answer(*self.provider.end_session(query))
        else:
            self._answer(404, {}, None)

    def do_POST(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        self.provider.hits.append(url.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = {key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
        if url.path == "/token":
            self._answer(*self.provider.token(form))
        else:
            self._answer(404, {}, None)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def identity_provider(settings: Any) -> Iterator[IdentityProvider]:
    """A running provider, with the OIDC settings pointing at it (the browser sign-in needs
    the backend too: see tests/accounts/test_oidc_sign_in.py)."""
    provider = IdentityProvider()
    handler = type("Handler", (_Handler,), {"provider": provider})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    provider.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_RP_SIGN_ALGO = "HS256"
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{provider.url}/authorize"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{provider.url}/token"
    settings.OIDC_OP_USER_ENDPOINT = f"{provider.url}/userinfo"
    settings.OIDC_OP_DISCOVERY_ENDPOINT = f"{provider.url}/.well-known/openid-configuration"
    settings.OIDC_TIMEOUT = 5
    yield provider
    server.shutdown()
    server.server_close()
