"""Starting a process in the browser: the kinds a person may start, and each kind's form.

Thin: the form (generated from the kind's data schema) checks the fields; `instance_start`
decides, and its errors come back beside the fields.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from apps.core.errors import DomainError, DuplicateBusinessKey, NotPermitted, UnknownProcessKind, http_status
from apps.inbox.process_forms import start_form_class
from apps.inbox.selectors import start_result
from apps.inbox.wording import reader_language
from apps.workflows.models import WorkflowInstance
from apps.workflows.registry import definition_latest
from apps.workflows.selectors import business_key_next, kinds_startable_by
from apps.workflows.services import instance_start

# Two people proposed the same next key start at once; the later one takes the next key.
KEY_ATTEMPTS = 5


@login_required
@require_http_methods(["GET", "HEAD"])
def start_list(request: HttpRequest) -> HttpResponse:
    kinds = kinds_startable_by(user=request.user)
    return render(request, "inbox/start_list.html", {"kinds": kinds})


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def start_form(request: HttpRequest, kind: str) -> HttpResponse:
    definition = _startable_or_404(request, kind)
    form_class = start_form_class(definition.process_name)
    language = reader_language(request)
    if request.method != "POST":
        form = form_class(definition=definition, language=language)
        return _form_page(request, definition, form)
    form = form_class(request.POST, definition=definition, language=language)
    if not form.is_valid():
        return _form_page(request, definition, form, status=400)
    try:
        instance = _start(request, definition, form.process_data())
    except DomainError as error:
        if isinstance(error, NotPermitted):
            raise PermissionDenied(error.detail) from None
        form.add_domain_error(error)
        return _form_page(request, definition, form, status=http_status(error))
    messages.success(request, start_result(instance=instance))
    return redirect("inbox:start_list")


def _start(request: HttpRequest, definition: type[WorkflowInstance], data: dict) -> WorkflowInstance:
    year = timezone.localdate().year
    for _attempt in range(KEY_ATTEMPTS):
        key = business_key_next(kind=definition.process_name, year=year)
        try:
            return instance_start(
                kind=definition.process_name, business_key=key, data=data, actor=request.user
            )
        except DuplicateBusinessKey:
            continue
    raise DuplicateBusinessKey("Could not find a free business key; please try again.")


def _startable_or_404(request: HttpRequest, kind: str) -> type[WorkflowInstance]:
    """The kind, if the person may start it: 404 for an unknown kind, 403 for a known one they may not."""
    try:
        definition = definition_latest(kind)
    except UnknownProcessKind:
        raise Http404("No such process.") from None
    if not definition.may_start(request.user):
        raise PermissionDenied(f"You may not start: {definition.process_title}.")
    return definition


def _form_page(
    request: HttpRequest, definition: type[WorkflowInstance], form: object, *, status: int = 200
) -> HttpResponse:
    context = {"definition": definition, "form": form}
    return render(request, "inbox/start_form.html", context, status=status)
