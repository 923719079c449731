"""Webhook bodies from arbitrary event data: always JSON a receiver can parse and verify with
the standardwebhooks package, or a clear refusal (UnsendableBody) before anything is signed or
sent; and, through the real path (service, outbox, fan-out, delivery to a receiver on
loopback), people's names in any script and of any length arrive exactly and signed."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from apps.humantasks.services import task_claim, task_unclaim
from apps.webhooks.signing import UnsendableBody, body_encode, secret_generate, signature_header
from tests.factories import start_purchase_order
from tests.process_steps import open_task
from tests.webhooks.test_delivery import subscribe

# Every code point, lone surrogates included (what a str may hold, not what UTF-8 can carry).
ANY_TEXT = st.text(st.characters(codec=None), max_size=40)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()  # NaN and infinities too
    | ANY_TEXT
)
EVENT_DATA = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(ANY_TEXT, inner, max_size=6),
    max_leaves=60,
)


def _json_can_carry(value) -> bool:
    """Finite numbers, and text UTF-8 can encode (no lone surrogates)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return not any(0xD800 <= ord(char) <= 0xDFFF for char in value)
    if isinstance(value, list):
        return all(_json_can_carry(item) for item in value)
    if isinstance(value, dict):
        return all(_json_can_carry(key) and _json_can_carry(item) for key, item in value.items())
    return True


def _render(data) -> tuple[bytes, dict[str, str], str]:
    """What a delivery attempt sends (apps.webhooks.services.delivery.delivery_attempt)."""
    secret, message_id, now = secret_generate(), "msg_fuzz", datetime.now(tz=UTC)
    body = body_encode({"type": "task.created", "timestamp": now.isoformat(), "data": data})
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature_header(
            secrets_in_force=[secret], message_id=message_id, timestamp=now, body=body
        ),
    }
    return body.encode(), headers, secret


def _refuse_constants(name: str) -> None:
    raise AssertionError(f"{name} is not JSON, yet it was sent")


@settings(max_examples=400, deadline=None)
@given(EVENT_DATA)
def test_any_event_data_renders_as_verifiable_json_or_is_refused_clearly(data):
    if not _json_can_carry(data):
        with pytest.raises(UnsendableBody, match="cannot be sent as JSON"):
            _render(data)
        return
    raw, headers, secret = _render(data)
    # Strict JSON (no NaN), valid UTF-8, and the receiver's own verifier accepts it.
    parsed = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constants)
    assert Webhook(secret).verify(raw, headers) == parsed
    assert parsed["data"] == data


def test_a_huge_body_is_sent_and_signed_whole():
    data = {"text": "Zoë 🧾 " * 400_000, "list": list(range(50_000))}
    raw, headers, secret = _render(data)
    assert len(raw) > 4_000_000
    assert Webhook(secret).verify(raw, headers)["data"] == data


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ({"amount": float("nan")}, "Out of range float values are not JSON compliant"),
        ({"amount": float("-inf")}, "Out of range float values are not JSON compliant"),
        ({"name": "Ana\udc80"}, "surrogates not allowed"),
        ({"when": datetime(2026, 1, 1, tzinfo=UTC)}, "not JSON serializable"),
        ({"ids": {1, 2}}, "not JSON serializable"),
    ],
)
def test_what_json_cannot_carry_is_refused_with_the_reason(data, why):
    with pytest.raises(UnsendableBody, match=why):
        _render(data)


def test_nesting_deeper_than_the_encoder_goes_is_refused():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(UnsendableBody, match="nested too deeply"):
        _render({"deep": deep})


# Names as people and identity providers spell them: any script, combining marks, emoji,
# right-to-left text, up to the column's 150 characters (PostgreSQL text holds no NUL and no
# lone surrogate, so neither can reach an event).
NAMES = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=150).filter(
    str.strip
)


@pytest.mark.django_db
def test_a_claim_by_anyone_arrives_signed_with_their_name_exactly(
    people, receiver, django_capture_on_commit_callbacks
):
    _endpoint, secret = subscribe(people["lead2"], receiver.url, "task.claimed")
    with django_capture_on_commit_callbacks(execute=True):
        task = open_task(start_purchase_order(people["requester"], business_key="PO-NAMES"))
    lead = people["lead"]

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(first_name=NAMES)
    def claimed_by(first_name: str) -> None:
        lead.first_name = first_name
        lead.save(update_fields=["first_name"])
        seen = len(receiver.received())
        with django_capture_on_commit_callbacks(execute=True):
            task_claim(task=task.pk, actor=lead)
        try:
            [request] = receiver.received()[seen:]
            payload = Webhook(secret).verify(request.body, request.headers)
            assert payload["type"] == "task.claimed"
            assert payload["data"]["assignee_name"] == lead.get_full_name()
        finally:
            task_unclaim(task=task.pk, actor=lead)

    claimed_by()
