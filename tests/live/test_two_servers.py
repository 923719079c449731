"""Two real Daphne servers on loopback, channels-redis on real Redis, real websocket clients:
what each person hears, and what they catch up on when they reconnect."""

from __future__ import annotations

import time

import pytest
import redis
import requests

from apps.humantasks.models import HumanTask
from apps.humantasks.services import task_claim, task_complete
from apps.live.consumers import CLOSE_NOT_SIGNED_IN, CLOSE_SIGNED_OUT, CLOSE_TOO_BIG
from apps.notifications.events import queue_group
from tests.factories import purchase_order_data
from tests.live.servers import Listener, listen

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]


def start_order(server, key, business_key, amount=100):
    answer = requests.post(
        f"{server.url}/api/v1/instances/",
        json={"kind": "purchase_order", "business_key": business_key, "data": purchase_order_data(amount)},
        headers={"Authorization": f"Api-Key {key}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def task_events(frames, topic=None):
    return [f for f in frames if f["type"] == "event" and (topic is None or f["topic"] == topic)]


@pytest.fixture
def servers(live_servers):
    return live_servers.pair()


def test_a_task_started_on_one_server_reaches_a_member_on_the_other_and_no_outsider(
    servers, people, queues, key_for
):
    a, b = servers
    lead = listen(b, key_for(people["lead"]))
    finance = listen(b, key_for(people["finance"]))
    outsider = listen(a, key_for(people["outsider"]))
    assert lead.hello["user"] == "lead"
    assert queue_group(queues["team-leads"].pk) in lead.hello["streams"]
    assert not any(s.startswith("queue-") for s in outsider.hello["streams"])

    sent_at = time.monotonic()
    instance_id = start_order(a, key_for(people["requester"]), "PO-WS-1")
    [created] = task_events(lead.frames_until(lambda f: f.get("topic") == "task.created", timeout=5))
    assert time.monotonic() - sent_at < 1.0
    assert created["data"]["instance"] == instance_id and created["data"]["queue"] == "team-leads"
    assert (
        created["stream"] == queue_group(queues["team-leads"].pk) and "notify_groups" not in created["data"]
    )
    # Neither a member of another queue nor someone with no queue hears of it.
    assert task_events(finance.quiet_for(0.5)) == []
    assert task_events(outsider.quiet_for(0.1)) == []


def test_a_confidential_task_reaches_its_grantee_and_not_the_rest_of_its_queue(
    servers, people, queues, key_for
):
    a, b = servers
    instance_id = start_order(a, key_for(people["requester"]), "PO-WS-2")
    requester = listen(b, key_for(people["requester"]))
    colleague = listen(a, key_for(people["requester2"]))  # same Requesters queue
    review = HumanTask.objects.get(instance_id=instance_id)
    task_claim(task=review, actor=people["lead"], expected_version=review.version)
    review.refresh_from_db()
    task_complete(
        task=review,
        actor=people["lead"],
        outcome="request_changes",
        data={},
        comment="Split the order",
        expected_version=review.version,
    )
    # A confidential task is heard of once it is granted (its creation reaches no one yet).
    heard = requester.frames_until(lambda f: f.get("topic") == "task.access_granted", timeout=5)
    [revise] = task_events(heard, "task.access_granted")
    assert revise["data"]["confidential"] and revise["data"]["assignee"] == "requester"
    # The requester also hears their instance change; their colleague in the queue hears nothing.
    assert [
        f for f in task_events(colleague.quiet_for(0.5)) if f["data"].get("instance") == instance_id
    ] == []


def test_removed_from_a_role_they_stop_hearing_its_queue_without_reconnecting(
    servers, people, queues, key_for
):
    a, b = servers
    lead = people["lead"]
    listener = listen(b, key_for(lead))
    leads_queue = queue_group(queues["team-leads"].pk)
    assert leads_queue in listener.hello["streams"]

    lead.groups.remove(queues["team-leads"].role)
    [changed] = listener.frames_until(lambda f: f["type"] == "access_changed", timeout=5)
    assert leads_queue not in changed["streams"]

    start_order(a, key_for(people["requester"]), "PO-WS-3")
    assert task_events(listener.quiet_for(1.0)) == []
    # And back in the role, they hear it again, still on the same socket.
    lead.groups.add(queues["team-leads"].role)
    listener.frames_until(lambda f: f["type"] == "access_changed", timeout=5)
    start_order(a, key_for(people["requester"]), "PO-WS-4")
    listener.frames_until(lambda f: f.get("topic") == "task.created", timeout=5)


def test_a_client_that_reconnects_gets_exactly_what_it_missed_in_order(servers, people, queues, key_for):
    a, b = servers
    key = key_for(people["lead"])
    listener = listen(b, key)
    start_order(a, key_for(people["requester"]), "PO-WS-5")
    [first] = task_events(listener.frames_until(lambda f: f.get("topic") == "task.created", timeout=5))
    stream, seen = first["stream"], first["seq"]
    listener.close()

    missed = [start_order(a, key_for(people["requester"]), f"PO-WS-MISSED-{n}") for n in range(3)]

    again = listen(a, key, resume=False)
    resumed = again.resume({stream: seen})
    replayed = task_events(again.replayed)
    assert [e["data"]["instance"] for e in replayed] == missed
    assert [e["seq"] for e in replayed] == [seen + 1, seen + 2, seen + 3]
    assert resumed["streams"][stream] == seen + 3
    # And then live again, numbered on.
    start_order(b, key_for(people["requester"]), "PO-WS-6")
    [live] = task_events(again.frames_until(lambda f: f["type"] == "event", timeout=5))
    assert live["seq"] == seen + 4


def test_a_store_that_lost_its_memory_tells_an_old_cursor_to_refresh(
    live_servers, servers, people, queues, key_for
):
    # Redis restarted without its data: the streams' counters start again, above every
    # number they gave before, so the client's last sequence cannot match a new event.
    a, b = servers
    key = key_for(people["lead"])
    listener = listen(b, key)
    start_order(a, key_for(people["requester"]), "PO-WS-LOST-1")
    [first] = task_events(listener.frames_until(lambda f: f.get("topic") == "task.created", timeout=5))
    stream, seen = first["stream"], first["seq"]
    listener.close()
    store = redis.Redis.from_url(live_servers.redis_url)
    for kind in ("seq", "first", "log", "msg"):
        for name in store.scan_iter(f"{live_servers.prefix}:{kind}:*"):
            store.delete(name)
    for n in range(3):
        start_order(a, key_for(people["requester"]), f"PO-WS-LOST-{n + 2}")

    again = listen(a, key, resume=False)
    again.send({"type": "resume", "after": {stream: seen}})
    frames = again.frames_until(lambda f: f["type"] == "refresh", timeout=5)
    assert [f["stream"] for f in frames if f["type"] == "refresh"] == [stream]
    assert not task_events(frames), "events numbered anew were taken for the ones after the cursor"


def test_a_gap_too_old_to_replay_gets_a_refresh(servers, people, queues, key_for):
    a, b = servers
    listener = listen(b, key_for(people["lead"]), resume=False)
    stream = queue_group(queues["team-leads"].pk)
    head = listener.hello["streams"][stream]
    listener.send({"type": "resume", "after": {stream: head + 50}})
    [refresh] = listener.frames_until(lambda f: f["type"] == "refresh", timeout=5)
    assert refresh["stream"] == stream


def test_bad_frames_get_error_frames_and_a_flood_is_throttled(servers, people, queues, key_for):
    a, _b = servers
    listener = listen(a, key_for(people["lead"]))
    for bad, code in [
        ("not json", "malformed"),
        ("[1, 2]", "malformed"),
        ({"type": "subscribe", "group": "queue-1"}, "unknown_type"),
        ({"type": "resume", "after": {"queue-1": "x"}}, "malformed"),
    ]:
        listener.send(bad)
        frame = listener.next_frame(timeout=5)
        assert (frame["type"], frame["code"]) == ("error", code), frame
    listener.send({"type": "ping"})
    assert listener.frames_until(lambda f: f["type"] == "pong", timeout=5)
    for _ in range(60):
        listener.send({"type": "ping"})
    frames = listener.quiet_for(0.5)
    assert {"type": "error", "code": "throttled", "detail": "Too many frames; slow down."} in frames
    assert sum(f["type"] == "pong" for f in frames) < 60

    oversized = listen(a, key_for(people["lead2"]))
    oversized.send("x" * 20_000)
    assert oversized.close_code(timeout=5) == CLOSE_TOO_BIG


def test_anonymous_and_deactivated_people_are_closed(servers, people, queues, key_for):
    a, b = servers
    from websockets.sync.client import connect

    anonymous = connect(a.ws_url, origin=f"http://127.0.0.1:{a.port}", open_timeout=10).__enter__()
    with pytest.raises(Exception) as closed:
        anonymous.recv(timeout=5)
    assert closed.value.rcvd.code == CLOSE_NOT_SIGNED_IN

    listener = listen(b, key_for(people["lead"]))
    people["lead"].is_active = False
    people["lead"].save()
    assert listener.close_code(timeout=5) == CLOSE_SIGNED_OUT


def test_the_roll_call_closes_sockets_whose_person_or_session_is_gone_without_a_control_message(
    servers, live_servers, people, key_for, settings
):
    """Deactivated by a bulk update and signed out by a deleted session row (no signal, so no
    control message): the server's periodic roll call finds both in one check and closes
    them; everyone else on that server stays connected."""
    from django.contrib.sessions.models import Session
    from django.test import Client
    from websockets.sync.client import connect

    from apps.accounts.models import User

    checked = live_servers.start("rollcall", LIVE_RECHECK_SECONDS=1)
    try:
        deactivated = listen(checked, key_for(people["lead"]))
        staying = listen(checked, key_for(people["lead2"]))
        browser = Client()
        browser.force_login(people["finance"])
        session_key = browser.cookies[settings.SESSION_COOKIE_NAME].value
        signed_in = Listener(
            connect(
                checked.ws_url,
                origin=checked.url,
                additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={session_key}"},
                open_timeout=10,
            ).__enter__()
        )
        signed_in.resume()

        User.objects.filter(pk=people["lead"].pk).update(is_active=False)
        Session.objects.filter(session_key=session_key).delete()

        assert deactivated.close_code(timeout=10) == CLOSE_SIGNED_OUT
        assert signed_in.close_code(timeout=10) == CLOSE_SIGNED_OUT
        staying.send({"type": "ping"})
        assert staying.frames_until(lambda f: f["type"] == "pong", timeout=5)
    finally:
        checked.stop()


def test_an_event_the_channel_layer_lost_reaches_the_socket_at_the_next_roll_call(
    live_servers, people, queues, key_for
):
    """The pub/sub layer delivers at most once: an event numbered in the store whose message
    never came (here: never sent) is caught up by the server's roll call, in order, once."""
    from apps.notifications.live import live_record

    checked = live_servers.start("catchup", LIVE_RECHECK_SECONDS=1)
    try:
        listener = listen(checked, key_for(people["lead"]))
        stream = queue_group(queues["team-leads"].pk)
        before = listener.hello["streams"][stream]
        lost = {"task": 424242, "queue": "team-leads", "notify_groups": [stream]}
        seqs = [
            live_record(message_id=990000 + n, topic="task.created", payload=lost)[stream] for n in (1, 2)
        ]
        assert seqs[0] > before and seqs[1] == seqs[0] + 1
        heard = listener.frames_until(lambda f: f.get("seq") == seqs[-1], timeout=10)
        assert [(f["id"], f["seq"]) for f in task_events(heard)] == [(990001, seqs[0]), (990002, seqs[1])]
        # Once: the next roll calls find nothing more to send.
        assert task_events(listener.quiet_for(2.5)) == []
    finally:
        checked.stop()


def test_an_access_change_whose_control_message_was_lost_is_followed_at_the_next_roll_call(
    live_servers, people, queues, key_for, monkeypatch
):
    """Removed from a role while the control message is lost (nothing is sent to the layer):
    the mark the change left in the live store makes the server's roll call recompute the
    socket's streams, and the queue goes quiet, without a reconnect."""
    from apps.notifications import services

    checked = live_servers.start("access", LIVE_RECHECK_SECONDS=1)
    try:
        lead = people["lead"]
        listener = listen(checked, key_for(lead))
        leads_queue = queue_group(queues["team-leads"].pk)
        assert leads_queue in listener.hello["streams"]

        sent = []
        monkeypatch.setattr(services, "live_group_send", sent.append)  # the layer loses all
        lead.groups.remove(queues["team-leads"].role)
        assert any(
            m.get("kind") == "access_changed"
            for batch in sent
            for messages in batch.values()
            for m in messages
        )
        [changed] = listener.frames_until(lambda f: f["type"] == "access_changed", timeout=10)
        assert leads_queue not in changed["streams"]
        # Followed once: the next roll calls find the marks as the socket knows them.
        assert [f for f in listener.quiet_for(2.5) if f["type"] == "access_changed"] == []
    finally:
        checked.stop()
