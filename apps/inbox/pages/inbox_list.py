"""The inbox list: its views (my team, mine, each queue), sorts, saved views and the bulk form."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils import timezone

from apps.humantasks.selectors import INBOX_SORTS, inbox_for, inbox_queues_for
from apps.inbox.forms import InboxFilterForm
from apps.inbox.pages.forms import BulkActionForm
from apps.inbox.selectors import inbox_rows, live_cursor_for, saved_view_default_for, saved_views_for

PAGE_SIZE = 25


def _saved_query(filters: dict[str, str]) -> QueryDict:
    query = QueryDict(mutable=True)
    query.update({key: value for key, value in filters.items() if isinstance(value, str)})
    return query


def render_inbox(request: HttpRequest) -> HttpResponse:
    user = request.user
    # The queues once: filter choices, Claim buttons, manager actions, live counts and streams.
    seen = inbox_queues_for(user=user)
    queues = [row.queue for row in seen]
    saved_views = list(saved_views_for(user=user))
    current_view = None
    data: QueryDict | None = request.GET or None
    if "saved" in request.GET:
        current_view = next((v for v in saved_views if str(v.pk) == request.GET["saved"]), None)
        if current_view is not None:
            data = _saved_query(current_view.filters)
            if request.GET.get("after"):
                data["after"] = request.GET["after"]
    elif data is None:
        current_view = saved_view_default_for(user=user)
        if current_view is not None:
            data = _saved_query(current_view.filters)
    form = InboxFilterForm(data, queues=queues)
    workable = {row.queue.pk for row in seen if row.may_work}
    page, rows, status = None, [], 200
    if form.is_bound and not form.is_valid():
        status = 400
    else:
        filters = form.inbox_filters(user_id=user.pk) if form.is_bound else None
        after = form.cleaned_data.get("after") if form.is_bound else None
        page = inbox_for(user=user, filters=filters, limit=PAGE_SIZE, after=after, sort=form.inbox_sort())
        rows = inbox_rows(user=user, tasks=page.tasks, workable_queue_ids=workable)
    managed = [row.queue for row in seen if row.may_manage]
    context = {
        "form": form,
        "page": page,
        "rows": rows,
        "queues": queues,
        "now": timezone.now(),
        "sort": form.inbox_sort() if form.is_bound and form.is_valid() else INBOX_SORTS["priority"],
        "sorts": INBOX_SORTS,
        "current_state": (form.data.get("state") or "") if form.is_bound else "",
        "current_queue": (form.data.get("queue") or "") if form.is_bound else "",
        "saved_views": saved_views,
        "current_view": current_view,
        "bulk_form": BulkActionForm(manager_queues=managed),
        "is_manager": bool(managed),
        # The live inbox (static/js/live.js): counts it redraws, and where its socket resumes.
        "counts": [row.counts for row in seen],
        "live_after": live_cursor_for(user=user, visible_queue_ids=[queue.pk for queue in queues]),
    }
    return render(request, "inbox/home.html", context, status=status)
