"""The pages beyond a single task: bulk actions, the managers' queue board, saved views,
and an instance's comments and attachments. Thin: a form checks the shape, one service or
selector does the work, a domain error becomes a form error with its HTTP status."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.errors import DomainError, NotFound, http_status
from apps.humantasks.selectors import (
    INBOX_SORTS,
    InboxFilters,
    InboxSort,
    attachment_get_for,
    inbox_for,
    instance_get_for,
    queue_board_for,
    queues_managed_by,
    queues_workable_by,
    tasks_visible_to,
)
from apps.humantasks.services.comments import attachment_add, comment_add
from apps.inbox.pages.bulk import bulk_run
from apps.inbox.pages.forms import AttachmentForm, BulkActionForm, CommentForm, SavedViewForm
from apps.inbox.selectors import inbox_rows, saved_view_default_for, saved_views_for
from apps.inbox.services import (
    saved_view_create,
    saved_view_default_set,
    saved_view_delete,
    saved_view_update,
)
from apps.workflows.selectors import MAX_ID

BOARD_PAGE_SIZE = 50


# --- Bulk actions --------------------------------------------------------------------------------------


@login_required
@require_POST
def tasks_bulk(request: HttpRequest) -> HttpResponse:
    """Claim, release, approve or (managers) reassign, delegate, cancel, re-prioritise or
    re-time the ticked tasks. Each task answers for itself in the results list. Approving
    asks first (a confirmation step; the inbox's script asks in a dialog instead)."""
    managed = list(queues_managed_by(user=request.user).order_by("name"))
    form = BulkActionForm(request.POST, manager_queues=managed)
    fragment = bool(request.htmx)
    back = request.POST.get("back") or reverse("inbox:home")
    if not back.startswith("/") or back.startswith("//"):
        back = reverse("inbox:home")
    if not form.is_valid():
        context = {"form": form, "rows": None, "back": back}
        template = "inbox/_bulk_results.html" if fragment else "inbox/bulk_results.html"
        return render(request, template, context, status=400)
    if form.needs_confirmation:
        chosen = list(
            tasks_visible_to(user=request.user)
            .filter(pk__in=form.cleaned_data["task"])
            .select_related("instance", "queue")
            .order_by("pk")
        )
        return render(
            request, "inbox/bulk_confirm.html", {"form": form, "chosen": chosen, "back": back}, status=200
        )
    rows = bulk_run(user=request.user, data=form.cleaned_data)
    done = sum(1 for row in rows if row.done)
    context = {"form": form, "rows": rows, "done": done, "failed": len(rows) - done, "back": back}
    template = "inbox/_bulk_results.html" if fragment else "inbox/bulk_results.html"
    return render(request, template, context)


# --- The managers' queue board ---------------------------------------------------------------------------


@login_required
@require_GET
def queue_board(request: HttpRequest) -> HttpResponse:
    """Per queue the person manages: counts, the oldest task's age, who holds what; below,
    the queues' tasks (or only the overdue ones, or one person's) to act on, one or many."""
    board = queue_board_for(user=request.user)
    managed = [entry.queue for entry in board]
    slugs = tuple(queue.slug for queue in managed)
    chosen = request.GET.get("queue", "")
    overdue = request.GET.get("overdue") == "1"
    holder = request.GET.get("holder", "")
    if chosen and chosen not in slugs:
        raise Http404("No such queue on your board.")
    rows, holder_id = [], None
    if holder:
        holder_id = next(
            (h.user_id for entry in board for h in entry.holders if h.username == holder), 0
        )  # someone holding nothing on the board: an empty list
    if managed:
        filters = InboxFilters(
            queues=(chosen,) if chosen else slugs,
            due_before=timezone.now() if overdue else None,
            assignee_id=holder_id,
        )
        page = inbox_for(user=request.user, filters=filters, limit=BOARD_PAGE_SIZE, sort=_board_sort(overdue))
        # The board lists only managed queues' tasks: inbox_for adds per-task grants of others.
        tasks = [task for task in page.tasks if task.queue.slug in slugs]
        rows = inbox_rows(user=request.user, tasks=tasks, workable_queue_ids=set())
    context = {
        "board": board,
        "rows": rows,
        "chosen": chosen,
        "overdue": overdue,
        "holder": holder,
        "now": timezone.now(),
        "bulk_form": BulkActionForm(manager_queues=managed),
    }
    return render(request, "inbox/board.html", context)


def _board_sort(overdue: bool) -> InboxSort:
    # Overdue work is read most overdue first; the rest most urgent first.
    return INBOX_SORTS["due" if overdue else "priority"]


# --- Saved views -------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def saved_views(request: HttpRequest) -> HttpResponse:
    """The views the person may use; POST saves the inbox's current filters as a new one."""
    queues = list(queues_workable_by(user=request.user).order_by("name"))
    form = SavedViewForm(request.POST or None, queues=queues)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            filters = {
                key.removeprefix("filter_"): value
                for key, value in request.POST.items()
                if key.startswith("filter_")
            }
            try:
                view = saved_view_create(
                    owner=request.user,
                    name=form.cleaned_data["name"],
                    filters=filters,
                    shared_with=form.cleaned_data["shared_with"],
                )
            except DomainError as error:
                _attach(form, error)
                status = http_status(error)
            else:
                if form.cleaned_data["make_default"]:
                    saved_view_default_set(user=request.user, view_id=view.pk)
                messages.success(request, f"Saved the view “{view.name}”.")
                return redirect(f"{reverse('inbox:home')}?saved={view.pk}")
        else:
            status = 400
    return _saved_views_page(request, form=form, status=status)


def _saved_views_page(
    request: HttpRequest,
    *,
    form: SavedViewForm | None = None,
    failed_edit: SavedViewForm | None = None,
    status: int = 200,
) -> HttpResponse:
    queues = list(queues_workable_by(user=request.user).order_by("name"))
    views = list(saved_views_for(user=request.user))
    default = saved_view_default_for(user=request.user)
    context = {
        "views": views,
        "default": default,
        "form": form or SavedViewForm(queues=queues),
        "edit_forms": {
            view.pk: SavedViewForm(
                queues=queues,
                initial={"name": view.name, "shared_with": view.shared_with.slug if view.shared_with else ""},
                prefix=f"view-{view.pk}",
            )
            for view in views
            if view.owner_id == request.user.pk
        },
    }
    if failed_edit is not None:
        view_id = int(failed_edit.prefix.removeprefix("view-"))
        if view_id in context["edit_forms"]:
            context["edit_forms"][view_id] = failed_edit
    return render(request, "inbox/saved_views.html", context, status=status)


def _attach(form: Any, error: DomainError) -> None:
    attached = False
    for field, messages_ in error.errors.items():
        if field in form.fields:
            for message in messages_ if isinstance(messages_, list) else [messages_]:
                form.add_error(field, message)
            attached = True
    if not attached:
        form.add_error(None, error.detail)


def _view_id(value: int) -> int:
    if not 0 < value <= MAX_ID:
        raise Http404("No such saved view.")
    return value


@login_required
@require_POST
def saved_view_edit(request: HttpRequest, view_id: int) -> HttpResponse:
    queues = list(queues_workable_by(user=request.user).order_by("name"))
    form = SavedViewForm(request.POST, queues=queues, prefix=f"view-{view_id}")
    if not form.is_valid():
        return _edit_failed(request, form, 400)
    existing = saved_views_for(user=request.user).filter(pk=_view_id(view_id)).first()
    if existing is None:
        raise Http404("No such saved view.")
    try:
        saved_view_update(
            view_id=view_id,
            actor=request.user,
            name=form.cleaned_data["name"],
            filters=existing.filters,
            shared_with=form.cleaned_data["shared_with"],
        )
    except NotFound:
        raise Http404("No such saved view.") from None
    except DomainError as error:
        _attach(form, error)
        return _edit_failed(request, form, http_status(error))
    messages.success(request, "The view was changed.")
    return redirect("inbox:saved_views")


def _edit_failed(request: HttpRequest, form: SavedViewForm, status: int) -> HttpResponse:
    """The list again, the failed edit's form in place of the view's (its errors beside it)."""
    return _saved_views_page(request, status=status, failed_edit=form)


@login_required
@require_POST
def saved_view_remove(request: HttpRequest, view_id: int) -> HttpResponse:
    try:
        saved_view_delete(view_id=_view_id(view_id), actor=request.user)
    except NotFound:
        raise Http404("No such saved view.") from None
    except DomainError as error:
        messages.error(request, error.detail)
        return _saved_views_page(request, status=http_status(error))
    messages.success(request, "The view was deleted.")
    return redirect("inbox:saved_views")


@login_required
@require_POST
def saved_view_make_default(request: HttpRequest, view_id: int) -> HttpResponse:
    """Make a view the inbox's default; view 0 means "no default"."""
    try:
        saved_view_default_set(user=request.user, view_id=_view_id(view_id) if view_id else None)
    except NotFound:
        raise Http404("No such saved view.") from None
    messages.success(
        request,
        "Your inbox opens with this view now." if view_id else "Your inbox opens with every queue now.",
    )
    return redirect("inbox:saved_views")


# --- Comments and attachments ------------------------------------------------------------------------------


def _back_to(request: HttpRequest, instance_id: int) -> str:
    task_id = request.POST.get("task")
    if task_id and task_id.isdigit():
        return reverse("inbox:task", args=[int(task_id)]) + "#notes"
    return reverse("inbox:home")


@login_required
@require_POST
def instance_comment(request: HttpRequest, instance_id: int) -> HttpResponse:
    try:
        instance = instance_get_for(user=request.user, instance_id=instance_id)
    except NotFound:
        raise Http404("No such process instance.") from None
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            comment_add(instance_id=instance.pk, actor=request.user, body=form.cleaned_data["body"])
        except NotFound:
            raise Http404("No such process instance.") from None
        except DomainError as error:
            return _notes_error(request, error.detail, http_status(error))
        messages.success(request, "Your note was added.")
        return redirect(_back_to(request, instance.pk))
    return _notes_error(request, "; ".join(e for errs in form.errors.values() for e in errs), 400)


@login_required
@require_POST
def instance_attach(request: HttpRequest, instance_id: int) -> HttpResponse:
    try:
        instance = instance_get_for(user=request.user, instance_id=instance_id)
    except NotFound:
        raise Http404("No such process instance.") from None
    form = AttachmentForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            attachment = attachment_add(
                instance_id=instance.pk, actor=request.user, file=form.cleaned_data["file"]
            )
        except NotFound:
            raise Http404("No such process instance.") from None
        except DomainError as error:
            return _notes_error(request, error.detail, http_status(error))
        messages.success(request, f"Attached “{attachment.name}”.")
        return redirect(_back_to(request, instance.pk))
    return _notes_error(request, "; ".join(e for errs in form.errors.values() for e in errs), 400)


def _notes_error(request: HttpRequest, detail: str, status: int) -> HttpResponse:
    return render(
        request,
        "inbox/notes_error.html",
        {"detail": detail, "back": _back_to(request, 0)},
        status=status,
    )


@login_required
@require_GET
def attachment_download(request: HttpRequest, attachment_id: int) -> FileResponse:
    """The file, to people who may see its instance; never inline (no stored HTML or SVG runs)."""
    try:
        attachment = attachment_get_for(user=request.user, attachment_id=attachment_id)
    except NotFound:
        raise Http404("No such attachment.") from None
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=True,
        filename=attachment.name,
        content_type=attachment.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
