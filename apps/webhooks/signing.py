"""Webhook secrets and signatures, by the Standard Webhooks specification.

A secret is `whsec_` + base64 of 24 random bytes, shown to its owner once and kept
encrypted in the database (Fernet, keyed from WEBHOOKS_SECRET_KEYS; see
docs/adr/webhooks.md). Signing is the `standardwebhooks` package's, never our own HMAC.
Nothing here logs a secret, and nothing that could reach a log carries one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from datetime import datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24


def secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _cipher() -> MultiFernet:
    # The first key encrypts; every key decrypts, so an old key can be retired gradually.
    keys = settings.WEBHOOKS_SECRET_KEYS or [settings.SECRET_KEY]
    return MultiFernet(
        [
            Fernet(base64.urlsafe_b64encode(hashlib.sha256(f"webhooks:{key}".encode()).digest()))
            for key in keys
        ]
    )


def secret_encrypt(secret: str) -> str:
    return _cipher().encrypt(secret.encode()).decode()


def secret_decrypt(token: str) -> str:
    try:
        return _cipher().decrypt(token.encode()).decode()
    except InvalidToken:
        # Never include the token: a log line must not carry anything that leads to a secret.
        raise RuntimeError(
            "a webhook secret cannot be decrypted: "
            "is WEBHOOKS_SECRET_KEYS missing the key it was stored with?"
        ) from None


class UnsendableBody(ValueError):
    """An event body that is not plain JSON text receivers could parse and verify."""


def body_encode(body: dict[str, Any]) -> str:
    """The exact text that is signed and sent (compact JSON, keys in a stable order, UTF-8).

    Refuses (UnsendableBody), rather than sending something receivers cannot parse, what JSON
    cannot carry: NaN and infinities, keys that are not text, values of other types, lone
    surrogates (no UTF-8 for them), nesting deeper than the encoder goes. What comes from the
    database never holds these (jsonb refuses them too); the check keeps it that way.
    """
    try:
        text = json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False)
        text.encode()
    except (TypeError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise UnsendableBody(f"The event cannot be sent as JSON: {reason}"[:300]) from None
    return text


def signature_header(*, secrets_in_force: list[str], message_id: str, timestamp: datetime, body: str) -> str:
    """`webhook-signature`: one `v1,<signature>` per secret in force, separated by spaces
    (during a rotation's overlap, the new secret's and the previous one's)."""
    return " ".join(
        Webhook(secret).sign(msg_id=message_id, timestamp=timestamp, data=body) for secret in secrets_in_force
    )
