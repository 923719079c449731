from __future__ import annotations

from io import StringIO
from pathlib import Path

from django.conf import settings
from django.core.management import call_command

from apps.notifications.events import EVENT_TYPES


def test_docs_events_md_is_generated_from_the_catalogue():
    out = StringIO()
    call_command("event_catalogue", stdout=out)
    committed = (Path(settings.BASE_DIR) / "docs" / "events.md").read_text()
    assert committed == out.getvalue(), (
        "docs/events.md is out of date; regenerate it with "
        "`python3 manage.py event_catalogue --output docs/events.md`"
    )
    for name in EVENT_TYPES:
        assert f"## {name}\n" in committed
