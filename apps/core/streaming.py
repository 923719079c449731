"""Streaming long responses (exports) with flat memory under both WSGI and ASGI."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterable, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest

LINES_PER_CHUNK = 500


async def _lines_without_blocking(lines: Iterator[str]) -> AsyncIterator[str]:
    # thread_sensitive: every chunk is read in the one thread that holds the database
    # connection, and with it the server-side cursor the lines come from.
    take = lambda: "".join(itertools.islice(lines, LINES_PER_CHUNK))  # noqa: E731
    while chunk := await sync_to_async(take, thread_sensitive=True)():
        yield chunk


def lines_streamed(request: HttpRequest, lines: Iterable[str]) -> Iterable[str] | AsyncIterator[str]:
    """`lines` as StreamingHttpResponse content for `request`'s server.

    Under ASGI (Daphne) Django would read a synchronous iterator into one list before
    sending it; an asynchronous one it sends as it goes, so memory stays flat there too.
    """
    if isinstance(request, ASGIRequest):
        return _lines_without_blocking(iter(lines))
    return lines
