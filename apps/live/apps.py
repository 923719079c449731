from django.apps import AppConfig


class LiveConfig(AppConfig):
    """The websocket edge: the live inbox's consumer and its routing (docs/live.md)."""

    name = "apps.live"
    label = "live"
