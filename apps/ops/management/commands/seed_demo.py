from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandParser

from apps.ops.demo import DEMO_PROCESSES, demo_credentials_table, demo_password_ensure, demo_seed
from config.env import VAR_DIR

DEFAULT_PASSWORD_FILE = VAR_DIR / "demo_password"


class Command(BaseCommand):
    help = (
        "Create the standard roles and queues, demo people in every role and a few demo processes of each "
        "kind in different states, all through the application's services. Idempotent: a second run "
        "creates nothing. Every demo person shares one password, generated on the first run and kept in "
        "var/demo_password (never in the repository); the command prints it with the demo sign-ins."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password-file",
            type=Path,
            default=DEFAULT_PASSWORD_FILE,
            help=f"Where the shared demo password is kept (default: {DEFAULT_PASSWORD_FILE}).",
        )

    def handle(self, *args: object, **options: object) -> None:
        password, is_new = demo_password_ensure(path=options["password_file"])
        result = demo_seed(password=password, reset_passwords=is_new)
        if result.created_anything:
            self.stdout.write(
                f"Demo data: {len(result.people_created)} people and "
                f"{len(result.processes_created)} processes created."
            )
            for process in DEMO_PROCESSES:
                if process.business_key in result.processes_created:
                    self.stdout.write(f"  {process.business_key:<14} {process.kind:<20} {process.story}")
        else:
            self.stdout.write("Demo data already present; nothing created.")
        self.stdout.write("")
        self.stdout.write(f"Demo sign-ins (one shared password, kept in {options['password_file']}):")
        self.stdout.write(demo_credentials_table(password=password))
