"""The roll call runs on a task of its own beside each socket's messages. While a socket is
resuming (its cursors half set, across awaits on the event store), a roll call must leave it
alone: with a stream's cursor still at 0 it would have replayed that stream's whole history."""

from __future__ import annotations

import asyncio
import threading

import pytest

from apps.live import consumers
from apps.live.consumers import InboxConsumer
from apps.notifications.live import Replay


def history(stream: str) -> list[dict]:
    return [{"id": f"{stream}/{n}", "topic": "task.created", "seq": n, "data": {}} for n in (1, 2, 3)]


class Recording(InboxConsumer):
    """The consumer's own logic, with the socket and the channel layer left out."""

    def __init__(self) -> None:
        super().__init__()
        self.user_id, self.started, self.closing = 1, False, False
        self.last = {"queue-a": 0, "queue-b": 0}
        self.marks = {}
        self.moving = asyncio.Lock()
        self.frames: list[dict] = []

    async def _send(self, frame: dict) -> None:
        self.frames.append(frame)


@pytest.fixture
def store(monkeypatch):
    """queue-a had events 1-3 (the client saw 1); queue-b too, all before the client came
    (it asks for queue-b from now). The first replay waits until the test lets it go."""
    entered, release = threading.Event(), threading.Event()

    def replay(*, stream: str, after: int) -> Replay:
        if not entered.is_set():  # the first replay (the resume's) is held; later ones are not
            entered.set()
            release.wait(10)
        return Replay(events=[e for e in history(stream) if e["seq"] > after], head=3)

    monkeypatch.setattr(consumers, "live_heads", lambda *, streams: dict.fromkeys(streams, 3))
    monkeypatch.setattr(consumers, "live_replay", replay)
    return entered, release


def test_a_roll_call_during_a_resume_leaves_the_socket_alone(store):
    entered, release = store
    socket = Recording()

    async def scenario() -> None:
        resuming = asyncio.ensure_future(socket._resume({"queue-a": 1}))
        await asyncio.get_running_loop().run_in_executor(None, entered.wait, 10)
        # Mid-resume: queue-a is being replayed, queue-b's cursor not yet set.
        rolling = asyncio.ensure_future(socket.roll_call({"queue-a": 3, "queue-b": 3}, {}))
        await asyncio.sleep(0.2)
        release.set()
        await resuming
        await rolling
        # And once the resume is done, a roll call finds nothing more to send.
        await socket.roll_call({"queue-a": 3, "queue-b": 3}, {})

    asyncio.run(scenario())
    events = [f["id"] for f in socket.frames if f["type"] == "event"]
    assert events == ["queue-a/2", "queue-a/3"], socket.frames  # nothing of queue-b's past
    assert socket.frames[-1] == {"type": "resumed", "streams": {"queue-a": 3, "queue-b": 3}}
