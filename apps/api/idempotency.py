"""`Idempotency-Key` on POST: a retried request gets the first answer and does nothing twice.

The decorated view runs inside one transaction with its (user, key) record locked
(apps.api.services.idempotency_record_lock). Its answer, success or problem, is stored in
that transaction, so a retry, or a concurrent duplicate that waited on the lock, replays
it; the same key with a different method, path or body is a 422. Server errors (5xx)
and throttling (429) are not stored: the work did not happen and may be retried.

An answer that carries a secret shown only once (a webhook endpoint's signing secret) names
its field in `sealed`: the stored copy keeps it encrypted, as the endpoint itself does, and
a replay decrypts it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.db import transaction
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api.problems import ApiProblem, problem_for
from apps.api.services import idempotency_record_answer, idempotency_record_lock
from apps.core.problems import PROBLEM_CONTENT_TYPE
from apps.webhooks.signing import secret_decrypt, secret_encrypt

HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, as the IETF draft's examples
REPLAYED_HEADER = "Idempotent-Replayed"
KEPT_HEADERS = ("ETag", "Location")


def _fingerprint(request: Request) -> str:
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.get_full_path().encode(), request.body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _sealed_copy(body: Any, sealed: tuple[str, ...], seal: Callable[[str], str]) -> Any:
    if not sealed or not isinstance(body, dict):
        return body
    return {
        name: seal(value) if name in sealed and isinstance(value, str) else value
        for name, value in body.items()
    }


def idempotent(post: Callable[..., Response] | None = None, *, sealed: tuple[str, ...] = ()) -> Any:
    """`@idempotent`, or `@idempotent(sealed=("secret",))` for an answer that carries a secret."""
    if post is None:
        return lambda view_post: idempotent(view_post, sealed=sealed)

    @wraps(post)
    def respond(view: APIView, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(HEADER)
        if key is None:
            return post(view, request, *args, **kwargs)
        if not _KEY.match(key):
            raise ApiProblem(
                "The Idempotency-Key must be 1-255 visible ASCII characters.",
                status_code=400,
                code="invalid-idempotency-key",
                errors={HEADER: ["Invalid key."]},
            )
        fingerprint = _fingerprint(request)
        with transaction.atomic():
            record = idempotency_record_lock(
                user=request.user,
                key=key,
                fingerprint=fingerprint,
                method=request.method,
                path=request.path[:2000],
            )
            if record.fingerprint != fingerprint:
                raise ApiProblem(
                    "This Idempotency-Key was already used for a different request "
                    f"({record.method} {record.path}).",
                    status_code=422,
                    code="idempotency-key-reused",
                    errors={HEADER: ["Already used for a different request."]},
                )
            if record.response_status is not None:
                headers = {**record.response_headers, REPLAYED_HEADER: "true"}
                problem = record.response_status >= 400
                return Response(
                    _sealed_copy(record.response_body, sealed, secret_decrypt)
                    if not problem
                    else record.response_body,
                    status=record.response_status,
                    headers=headers,
                    content_type=PROBLEM_CONTENT_TYPE if problem else None,
                )
            try:
                # Its own savepoint: a failed action leaves the record's transaction usable.
                with transaction.atomic():
                    response = post(view, request, *args, **kwargs)
            except Exception as error:  # noqa: BLE001 - the answer to store is the problem+json one
                response = problem_for(error, request)
                if response is None:
                    raise
                auth_header = getattr(error, "auth_header", None)
                if auth_header:
                    response["WWW-Authenticate"] = auth_header
            if response.status_code < 500 and response.status_code != 429:
                kept = {name: response[name] for name in KEPT_HEADERS if response.has_header(name)}
                body = (
                    response.data
                    if response.status_code >= 400
                    else _sealed_copy(response.data, sealed, secret_encrypt)
                )
                idempotency_record_answer(record=record, status=response.status_code, body=body, headers=kept)
            return response

    return respond
