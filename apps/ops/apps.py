from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Running the product: the embedded start command, the test runner, demo data."""

    name = "apps.ops"
    label = "ops"

    def ready(self) -> None:
        from apps.ops import checks  # noqa: F401  (registers the deployment checks)
