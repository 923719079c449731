from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "apps.automation"
    label = "automation"

    def ready(self) -> None:
        from apps.automation.services import step_runs_schedule
        from apps.workflows.reactions import reaction_register

        reaction_register(step_runs_schedule, order=200)
