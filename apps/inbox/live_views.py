"""The pages' live parts: one inbox row and the queue counts as fragments (the live inbox
script redraws them when an event arrives), and the notifications (bell, list, mark read,
mail preferences), which work without JavaScript too."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.services import user_set_email_notifications
from apps.humantasks.selectors import queue_counts_for
from apps.notifications.personal import (
    notification_mark_read,
    notifications_bell_for,
    notifications_mark_all_read,
    notifications_recent_for,
)


@login_required
@require_GET
def inbox_counts(request: HttpRequest) -> HttpResponse:
    return render(request, "inbox/_queue_counts.html", {"counts": queue_counts_for(user=request.user)})


@login_required
@require_GET
def notifications_bell(request: HttpRequest) -> HttpResponse:
    return render(request, "inbox/_bell.html", bell_context(request.user))


def bell_context(user: object) -> dict[str, object]:
    bell = notifications_bell_for(user=user)
    return {"bell_unread": bell.unread, "bell_recent": bell.recent}


@login_required
@require_GET
def notifications_page(request: HttpRequest) -> HttpResponse:
    context = {"notifications": notifications_recent_for(user=request.user, limit=50)}
    return render(request, "inbox/notifications.html", context)


@login_required
@require_POST
def notification_read(request: HttpRequest, notification_id: int) -> HttpResponse:
    if not notification_mark_read(user=request.user, notification_id=notification_id):
        raise Http404("No such notification.")
    return _back(request)


@login_required
@require_POST
def notifications_read_all(request: HttpRequest) -> HttpResponse:
    notifications_mark_all_read(user=request.user)
    return _back(request)


def _back(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("inbox:notifications")


class PreferencesForm(forms.Form):
    email_notifications = forms.BooleanField(
        required=False,
        label="Also send me reminders, escalations and tasks assigned to me by mail when I am not signed in",
    )


@login_required
@require_http_methods(["GET", "POST"])
def notification_preferences(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if form.is_valid():
            user_set_email_notifications(user=request.user, enabled=form.cleaned_data["email_notifications"])
            messages.success(request, "Your preferences are saved.")
            return redirect("inbox:notification_preferences")
    else:
        form = PreferencesForm(initial={"email_notifications": request.user.email_notifications})
    return render(request, "inbox/notification_preferences.html", {"form": form})
