"""The staff pages: the inbox and a task's page with claim, unclaim and decide.

Thin: each view checks the form's shape, calls one selector or service, and turns a
domain error into a form error with its HTTP status (never a 500).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from apps.core.errors import DomainError, NotFound, http_status
from apps.humantasks import services as task_services
from apps.inbox.forms import TaskActionForm
from apps.inbox.pages.inbox_list import PAGE_SIZE, render_inbox  # noqa: F401 - tests read PAGE_SIZE here
from apps.inbox.process_forms import DecisionForm, decision_form_class
from apps.inbox.selectors import (
    TaskPage,
    decision_result,
    inbox_row_for,
    instance_notes_for,
    live_cursor_for,
    task_page_for,
)
from apps.inbox.wording import instance_facts, reader_language


@login_required
@require_GET
def inbox_home(request: HttpRequest) -> HttpResponse:
    """The inbox: the list (with its views, sorts and bulk actions) and, on wide screens,
    the task opened beside it. With no filters asked for, the person's default saved view."""
    return render_inbox(request)


@login_required
@require_GET
def task_detail(request: HttpRequest, task_id: int) -> HttpResponse:
    return _task_page(request, _page_or_404(request, task_id))


@login_required
@require_GET
def task_row(request: HttpRequest, task_id: int) -> HttpResponse:
    """One inbox row, as the list renders it (for bulk results and live updates to replace)."""
    try:
        row = inbox_row_for(user=request.user, task_id=task_id)
    except NotFound:
        raise Http404("No such task.") from None
    return render(request, "inbox/_task_row.html", {"row": row, "now": timezone.now()})


@login_required
@require_POST
def task_claim(request: HttpRequest, task_id: int) -> HttpResponse:
    return _task_action(
        request,
        task_id,
        task_services.task_claim,
        "You have claimed this task; nobody else can decide it now.",
    )


@login_required
@require_POST
def task_unclaim(request: HttpRequest, task_id: int) -> HttpResponse:
    return _task_action(request, task_id, task_services.task_unclaim, "The task is back in its queue.")


def _task_action(
    request: HttpRequest, task_id: int, service: Callable[..., object], done: str
) -> HttpResponse:
    """Claim or unclaim: the form carries only the version the person was looking at."""
    page = _page_or_404(request, task_id)
    form = TaskActionForm(request.POST)
    if not form.is_valid():
        return _task_page(request, page, action_form=form, status=400)
    try:
        service(task=page.task, actor=request.user, expected_version=form.cleaned_data["version"])
    except DomainError as error:
        return _task_page(request, page, action_form=form, error=error)
    messages.success(request, done)
    return redirect("inbox:task", task_id=page.task.pk)


@login_required
@require_POST
def task_decide(request: HttpRequest, task_id: int) -> HttpResponse:
    page = _page_or_404(request, task_id)
    if page.step is None:
        raise Http404("This task's step no longer exists.")
    form = _decision_form(request, page, data=request.POST)
    if not form.is_valid():
        return _task_page(request, page, decision_form=form, status=400)
    try:
        decided = task_services.task_complete(
            task=page.task,
            actor=request.user,
            outcome=form.cleaned_data["outcome"],
            data=form.decision_data(),
            comment=form.cleaned_data["comment"],
            expected_version=form.cleaned_data["version"],
        )
    except DomainError as error:
        form.add_domain_error(error)
        return _task_page(request, page, decision_form=form, error=error)
    messages.success(request, decision_result(decided=decided, step=page.step))
    return redirect(reverse("inbox:home"))


def _decision_form(request: HttpRequest, page: TaskPage, *, data: object = None) -> DecisionForm:
    """The step's typed form; a step that revises the process's own data shows its current figures."""
    assert page.step is not None
    schema = page.step.decision_schema_for(page.instance)
    properties = schema.get("properties", {})
    revises = any(name in page.instance.data_schema.get("properties", {}) for name in properties)
    form_class = decision_form_class(page.instance.kind, page.step.name)
    return form_class(
        data,
        step=page.step,
        kind=page.instance.kind,
        language=reader_language(request),
        schema=schema,
        current=page.instance.data if revises else None,
        initial={"version": page.task.version},
    )


def _page_or_404(request: HttpRequest, task_id: int) -> TaskPage:
    try:
        return task_page_for(user=request.user, task_id=task_id)
    except NotFound:
        raise Http404("No such task.") from None


def _task_page(
    request: HttpRequest,
    page: TaskPage,
    *,
    action_form: TaskActionForm | None = None,
    decision_form: DecisionForm | None = None,
    error: DomainError | None = None,
    status: int = 200,
) -> HttpResponse:
    if error is not None:
        if isinstance(error, NotFound):
            raise Http404("No such task.")
        # The same status the API answers with: one mapping of domain errors to HTTP.
        status = http_status(error)
        if action_form is not None:
            action_form.add_domain_error(error)
    if decision_form is None and page.may_decide and page.step is not None:
        decision_form = _decision_form(request, page)
    context: dict[str, Any] = {
        "facts": instance_facts(page.instance, language=reader_language(request)),
        "page": page,
        "task": page.task,
        "instance": page.instance,
        "action_form": action_form,
        "decision_form": decision_form,
        "live_after": live_cursor_for(user=request.user),
        # Opened from the inbox's list (htmx), the page is the right-hand pane's fragment.
        "base_template": "inbox/_pane.html" if request.htmx else "base.html",
        "notes": instance_notes_for(user=request.user, instance=page.instance, access=page.access),
    }
    return render(request, "inbox/task_detail.html", context, status=status)
