from django.apps import AppConfig


class HumantasksConfig(AppConfig):
    name = "apps.humantasks"
    label = "humantasks"

    def ready(self) -> None:
        from apps.humantasks import receivers  # noqa: F401
        from apps.humantasks.services.reactions import process_managed_by, tasks_sync_with_instance
        from apps.workflows.reactions import manager_test_register, reaction_register

        # Tasks follow the state first; automation (order 200) schedules steps after.
        reaction_register(tasks_sync_with_instance, order=100)
        manager_test_register(process_managed_by)
