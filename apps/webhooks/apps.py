from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "apps.webhooks"
    label = "webhooks"

    def ready(self) -> None:
        from apps.notifications.sinks import sink_register
        from apps.webhooks.services.fan_out import webhooks_fan_out_all

        sink_register(webhooks_fan_out_all)
