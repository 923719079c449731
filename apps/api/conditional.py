"""Optimistic concurrency over HTTP: reads carry `ETag: "<version>"`, writes may send
`If-Match` with it, and a stale one is answered 412 by the services' StaleVersion."""

from __future__ import annotations

import re

from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.errors import StaleVersion

_VERSION_TAG = re.compile(r'^(?:W/)?"?(\d{1,9})"?$')


def etag(version: int) -> str:
    return f'"{version}"'


def with_etag(response: Response, version: int) -> Response:
    response["ETag"] = etag(version)
    return response


def expected_version(request: Request) -> int | None:
    """The version If-Match names; None without the header or with `*`.

    A tag we never issued cannot match the current version, so it is a failed
    precondition (412), as RFC 9110 says for any non-matching If-Match.
    """
    value = request.headers.get("If-Match")
    if value is None or value.strip() == "*":
        return None
    match = _VERSION_TAG.match(value.strip())
    if match is None:
        raise StaleVersion(
            f"If-Match {value[:40]!r} is not a version this API issued; read the object again."
        )
    return int(match[1])
