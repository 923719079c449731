"""The site's own pages for a bad request and a request too large (config/urls.py's handler400).

Django renders its 400 page without the request, so the site's layout (the person's name, the
navigation) would be missing; and a body over DJANGO_MAX_REQUEST_BYTES is a "bad request" to
Django, which is 413 to everyone else.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.inbox.wording import number


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):
        limit = number(settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024, language="en")
        return render(request, "413.html", {"limit_kib": limit}, status=413)
    return render(request, "400.html", status=400)
