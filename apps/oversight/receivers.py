"""Remember at sign-in whether the person oversees anything, for the navigation's links.

Only the links read it (the pages check the reader afresh on every request), so base.html
costs no query on every page to decide whether to show them.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from apps.oversight.selectors import overseer_for

SESSION_KEY = "oversees"


@receiver(user_logged_in, dispatch_uid="oversight-nav")
def remember_oversight(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is None or not hasattr(request, "session"):
        return
    overseer = overseer_for(user=user)
    request.session[SESSION_KEY] = (
        "" if overseer is None else ("auditor" if overseer.is_auditor else "manager")
    )
