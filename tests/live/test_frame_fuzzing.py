"""Frames no client of ours would send, from a real websocket client to a real Daphne server:
malformed JSON, JSON of every shape, known types with wrong fields, unknown types, binary,
oversized and deeply nested text. Each gets an error frame (the socket stays open and answers
the next ping) or one of the documented close codes (docs/live.md); the server never drops the
socket otherwise, never stops answering, and logs no crash."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from apps.live.consumers import CLOSE_TOO_BIG, MAX_FRAME_BYTES
from tests.live.servers import Listener, listen

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]

ERROR_CODES = {"malformed", "unknown_type", "binary"}
# What may come back before the pong: the refusal, or what a valid resume answers.
ANSWERS = {"error", "resumed", "event", "refresh"}
DOCUMENTED_CLOSES = {CLOSE_TOO_BIG}
# Seconds to wait for an answer: a hang detector, not a speed requirement.
ANSWER_WITHIN = 20

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)
KNOWN_TYPES_WRONG_FIELDS = st.fixed_dictionaries(
    {"type": st.sampled_from(["resume", "ping", "Resume", "", "subscribe", "hello", "event"])},
    optional={
        "after": JSON_VALUES
        | st.dictionaries(st.text(max_size=12), st.integers() | st.text(max_size=3) | st.none(), max_size=8),
        "group": st.text(max_size=20),
    },
)
FRAMES = st.one_of(
    st.text(max_size=200),  # mostly not JSON at all
    JSON_VALUES.map(json.dumps),
    KNOWN_TYPES_WRONG_FIELDS.map(json.dumps),
    st.binary(max_size=300),
    st.integers(min_value=1_000, max_value=MAX_FRAME_BYTES // 2).map(lambda n: "[" * n + "]" * n),
    st.integers(min_value=1_000, max_value=MAX_FRAME_BYTES // 6).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.integers(min_value=MAX_FRAME_BYTES + 1, max_value=4 * MAX_FRAME_BYTES).map(lambda n: "x" * n),
)


@pytest.fixture
def fuzz_server(live_servers):
    # No throttle in the way: every frame must reach the consumer's parsing.
    return live_servers.start("fuzz", LIVE_CLIENT_BURST=1_000_000, LIVE_CLIENT_FRAMES_PER_SECOND=1_000_000)


def _is_ping(frame: str | bytes) -> bool:
    try:
        parsed = (
            json.loads(frame) if isinstance(frame, str) and len(frame.encode()) <= MAX_FRAME_BYTES else None
        )
    except (ValueError, RecursionError):
        return False
    return isinstance(parsed, dict) and parsed.get("type") == "ping"


def _answer_to(listener: Listener, frame: str | bytes) -> tuple[list[dict], int | None]:
    """Send `frame`, then a ping: the frames heard up to the ping's pong, or the close code."""
    heard: list[dict] = []
    pongs = 2 if _is_ping(frame) else 1  # a fuzzed frame may be a ping itself
    try:
        listener.connection.send(frame)
        listener.send({"type": "ping"})
        while True:
            answer = json.loads(listener.connection.recv(timeout=ANSWER_WITHIN))
            if answer.get("type") == "pong":
                pongs -= 1
                if not pongs:
                    return heard, None
                continue
            heard.append(answer)
    except ConnectionClosed as closed:
        return heard, closed.rcvd.code if closed.rcvd else None


def test_no_frame_crashes_or_hangs_the_socket(fuzz_server, people, queues, key_for):
    key = key_for(people["lead"])
    state = {"listener": listen(fuzz_server, key), "closes": 0, "errors": 0, "frames": 0}

    @settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(FRAMES)
    def answered_properly(frame: str | bytes) -> None:
        state["frames"] += 1
        try:
            check(frame)
        except BaseException:
            # Frames left unread on this socket would be taken for the next example's answers.
            state["listener"].close()
            state["listener"] = listen(fuzz_server, key)
            raise

    def check(frame: str | bytes) -> None:
        heard, closed = _answer_to(state["listener"], frame)
        for answer in heard:
            assert answer["type"] in ANSWERS, (frame[:200], answer)
            if answer["type"] == "error":
                assert answer["code"] in ERROR_CODES and answer["detail"], answer
                state["errors"] += 1
        if closed is not None:
            # A client that fixed itself comes back (and the next example starts afresh,
            # whatever this one found).
            state["listener"] = listen(fuzz_server, key)
            size = len(frame if isinstance(frame, bytes) else frame.encode())
            assert closed in DOCUMENTED_CLOSES, (frame[:200], closed)
            assert closed == CLOSE_TOO_BIG and size > MAX_FRAME_BYTES, (size, closed)
            state["closes"] += 1
        elif isinstance(frame, bytes):
            assert [a.get("code") for a in heard] == ["binary"], heard
        else:
            text_size = len(frame.encode())
            assert text_size <= MAX_FRAME_BYTES, "an oversized frame must close the socket"

    answered_properly()

    # Still serving: a well-formed resume afterwards is answered as ever.
    assert state["listener"].resume()["type"] == "resumed"
    log = fuzz_server.output()
    assert "Traceback" not in log and "Exception inside application" not in log, log[-4000:]
    print(
        f"\nFUZZ websocket frames: {state['frames']} sent, {state['errors']} error frames, "
        f"{state['closes']} closes 4413"
    )
