from django.apps import AppConfig


class OversightConfig(AppConfig):
    """Auditors' and managers' pages: search, an instance's story, exports, verification, dashboard."""

    name = "apps.oversight"
    label = "oversight"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.oversight import receivers  # noqa: F401 (connects the sign-in receiver)
