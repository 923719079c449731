"""Auditors' and managers' pages. Thin: check the reader and the query, call one selector or
service, render. Whoever is neither auditor nor manager gets a 404 from every one of them,
the same answer as for a page that does not exist."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from apps.audit.selectors import audit_events_as_csv, audit_events_as_json_lines
from apps.core.errors import NotFound, UnknownProcessKind
from apps.core.streaming import lines_streamed
from apps.humantasks.selectors import instance_get_for
from apps.oversight import charts, services
from apps.oversight.forms import DashboardForm, EventSearchForm, InstanceSearchForm
from apps.oversight.models import ChainVerification
from apps.oversight.selectors import (
    Overseer,
    dashboard_for,
    dashboard_queues,
    event_search,
    event_search_queryset,
    instance_search,
    instance_story,
    kind_choices,
    kind_label,
    overseer_for,
)
from apps.workflows.selectors import process_graph

View = Callable[..., HttpResponse]


def overseers_only(*, auditors_only: bool = False) -> Callable[[View], View]:
    """Let in auditors (and managers, unless `auditors_only`); 404 for everyone else."""

    def decorate(view: View) -> View:
        @login_required
        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            overseer = overseer_for(user=request.user)
            if overseer is None or (auditors_only and not overseer.is_auditor):
                raise Http404("No such page.")
            request.overseer = overseer
            return view(request, *args, **kwargs)

        return guarded

    return decorate


def _overseer(request: HttpRequest) -> Overseer:
    return request.overseer  # set by overseers_only


@require_GET
@overseers_only()
def instance_search_page(request: HttpRequest) -> HttpResponse:
    form = InstanceSearchForm(request.GET or None)
    page, status = None, 200
    if form.is_bound and not form.is_valid():
        status = 400
    elif form.is_bound:
        page = instance_search(
            user=request.user,
            filters=form.instance_filters(),
            actor_id=form.actor_id,
            before=form.cleaned_data.get("before"),
        )
    context = {
        "form": form,
        "page": page,
        "overseer": _overseer(request),
        "query": _query_without_cursor(request),
    }
    return render(request, "oversight/search.html", context, status=status)


@require_GET
@overseers_only(auditors_only=True)
def event_search_page(request: HttpRequest) -> HttpResponse:
    form = EventSearchForm(request.GET or None)
    page, status = None, 200
    if form.is_bound and not form.is_valid():
        status = 400
    elif form.is_bound:
        page = event_search(
            user=request.user,
            filters=form.audit_filters(),
            kinds=form.kinds(),
            business_key=form.cleaned_data.get("business_key", ""),
            before=form.cleaned_data.get("before"),
        )
    context = {
        "form": form,
        "page": page,
        "overseer": _overseer(request),
        "query": _query_without_cursor(request),
    }
    return render(request, "oversight/events.html", context, status=status)


EXPORTS = {
    "csv": (audit_events_as_csv, "text/csv; charset=utf-8"),
    "jsonl": (audit_events_as_json_lines, "application/x-ndjson; charset=utf-8"),
}


@require_GET
@overseers_only(auditors_only=True)
def event_export(request: HttpRequest, file_format: str) -> HttpResponse:
    """The whole search (every page), streamed row by row: memory stays flat at any size."""
    if file_format not in EXPORTS:
        raise Http404("No such export format.")
    form = EventSearchForm(request.GET)
    if not form.is_valid():
        return render(
            request,
            "oversight/events.html",
            {"form": form, "page": None, "overseer": _overseer(request), "query": ""},
            status=400,
        )
    events = event_search_queryset(
        user=request.user,
        filters=form.audit_filters(),
        kinds=form.kinds(),
        business_key=form.cleaned_data.get("business_key", ""),
    )
    render_rows, content_type = EXPORTS[file_format]
    response = StreamingHttpResponse(lines_streamed(request, render_rows(events)), content_type=content_type)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="audit-events-{stamp}.{file_format}"'
    return response


@require_GET
@overseers_only()
def instance_story_page(request: HttpRequest, instance_id: int) -> HttpResponse:
    try:
        instance = instance_get_for(user=request.user, instance_id=instance_id)
    except NotFound:
        raise Http404("No such process instance.") from None
    story = instance_story(user=request.user, instance=instance)
    return render(request, "oversight/instance.html", {"story": story, "instance": instance})


@require_GET
@overseers_only()
def process_kind_page(request: HttpRequest, kind: str) -> HttpResponse:
    try:
        graph = process_graph(kind=kind)
    except UnknownProcessKind:
        raise Http404("No such process kind.") from None
    return render(
        request, "oversight/kind.html", {"graph": graph, "kinds": kind_choices(), "title": kind_label(kind)}
    )


@require_GET
@overseers_only(auditors_only=True)
def verification_page(request: HttpRequest) -> HttpResponse:
    runs = list(ChainVerification.objects.select_related("requested_by")[:10])
    return render(request, "oversight/verification.html", {"runs": runs, "latest": runs[0] if runs else None})


@require_POST
@overseers_only(auditors_only=True)
def verification_start(request: HttpRequest) -> HttpResponse:
    verification = services.chain_verification_request(actor=request.user)
    return redirect("oversight:verification_detail", verification_id=verification.pk)


@require_GET
@overseers_only(auditors_only=True)
def verification_detail(request: HttpRequest, verification_id: int) -> HttpResponse:
    verification = ChainVerification.objects.select_related("requested_by").filter(pk=verification_id).first()
    if verification is None:
        raise Http404("No such verification.")
    # htmx polls the status fragment every second until the run finishes.
    template = "oversight/_verification_status.html" if request.htmx else "oversight/verification_detail.html"
    return render(request, template, {"run": verification})


@require_GET
@overseers_only()
def dashboard_page(request: HttpRequest) -> HttpResponse:
    overseer = _overseer(request)
    queues = dashboard_queues(overseer=overseer)
    form = DashboardForm(DashboardForm.with_default_range(request.GET), queues=queues)
    if not form.is_valid():
        return render(request, "oversight/dashboard.html", {"form": form, "board": None}, status=400)
    since, until = form.time_range()
    chosen = form.cleaned_data["queue"]
    shown = [queue for queue in queues if chosen is None or queue.pk == chosen]
    board = dashboard_for(queues=shown, since=since, until=until)
    totals = board.queue_totals()
    context = {
        "form": form,
        "board": board,
        "totals": totals,
        "overseer": overseer,
        "wait_work_svg": charts.wait_work_chart(board.steps),
        "breach_svg": charts.breach_chart(totals),
        "trend_svg": charts.trend_chart(board.days),
    }
    return render(request, "oversight/dashboard.html", context)


def _query_without_cursor(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("before", None)
    return query.urlencode()
