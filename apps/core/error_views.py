"""Config/urls.py's handler500: every uncaught error of a request ends here, from a view, a
serializer or a middleware alike, so this is the one place a lost database becomes a 503.

While the database is out of reach (apps.core.errors.unavailable_retry_after) the answer is 503
with Retry-After: problem+json under /api/, a page saying to try again in a moment elsewhere.
Any other error is the site's 500 page. Neither touches the database or the session (both may
be what failed), so the pages are standalone templates.
"""

from __future__ import annotations

import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader

from apps.core.errors import unavailable_retry_after
from apps.core.problems import PROBLEM_CONTENT_TYPE, problem_body

API_PATH = "/api/"


def server_error(request: HttpRequest) -> HttpResponse:
    retry_after = unavailable_retry_after(sys.exc_info()[1])
    if retry_after is None:
        # Rendered without the request: no context processor may reach for the session.
        return HttpResponse(loader.render_to_string("500.html"), status=500)
    headers = {"Retry-After": str(retry_after)}
    if request.path.startswith(API_PATH):
        body = problem_body(
            status_code=503,
            code="service-unavailable",
            detail=f"The service cannot reach its database just now; nothing was changed. "
            f"Try again in {retry_after} seconds.",
            instance=request.path,
        )
        return JsonResponse(body, status=503, content_type=PROBLEM_CONTENT_TYPE, headers=headers)
    page = loader.render_to_string("503.html", {"retry_after": retry_after})
    return HttpResponse(page, status=503, headers=headers)
