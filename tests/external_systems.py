"""External systems for tests: real HTTP servers on loopback that answer, fail, are slow or hang
as a test scripts them, and remember every request they were sent."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass(frozen=True)
class Reply:
    """One scripted answer: an HTTP status with a JSON body, after `delay` seconds.
    A delay longer than the client's timeout is a hang."""

    status: int = 200
    body: Any = None
    delay: float = 0.0


@dataclass
class Received:
    path: str
    body: dict[str, Any]
    idempotency_key: str
    at: float


@dataclass
class ExternalSystem:
    """Answers POSTs: the next scripted Reply for the path if there is one, else `answer(body)`."""

    answer: Callable[[str, dict[str, Any]], Any]
    scripts: dict[str, list[Reply]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self.scripts.setdefault(path, []).extend(replies)

    def always(self, path: str, reply: Reply, times: int = 1000) -> None:
        self.script(path, *([reply] * times))

    def clear(self, path: str) -> None:
        with self._lock:
            self.scripts.pop(path, None)

    def requests_to(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def _next(self, path: str, body: dict[str, Any], idempotency_key: str) -> Reply:
        with self._lock:
            self.received.append(Received(path, body, idempotency_key, time.monotonic()))
            queued = self.scripts.get(path)
            if queued:
                return queued.pop(0)
        return Reply(200, self.answer(path, body))


def _handler_for(system: ExternalSystem) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"unparsed": raw.decode(errors="replace")}
            reply = system._next(self.path, body, self.headers.get("Idempotency-Key", ""))
            if reply.delay:
                time.sleep(reply.delay)
            payload = json.dumps(reply.body if reply.body is not None else {}).encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a hang it timed out on)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler


def checks_answer(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A credit bureau and an employment verifier on one server: clean applicants pass."""
    if path == "/credit-checks":
        return {"passed": True, "score": 12, "bureau_reference": f"BUREAU-{body.get('national_id')}"}
    if path == "/employment-verifications":
        return {"verified": True, "employer": body.get("employer")}
    return {}


@pytest.fixture
def external_system() -> Iterator[ExternalSystem]:
    """Credit bureau and employment verifier on one loopback HTTP server."""
    system = ExternalSystem(answer=checks_answer)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(system))
    server.daemon_threads = True
    system.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield system
    server.shutdown()
    server.server_close()
