from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Running the product: the embedded start command, the test runner, demo data."""

    name = "apps.ops"
    label = "ops"
