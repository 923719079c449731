from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import User
from apps.accounts.services import api_key_create


class Command(BaseCommand):
    help = (
        "Create an API key that acts as USERNAME (with that user's roles) and print it. "
        "Only the key goes to stdout, so scripts can capture it: KEY=$(manage.py create_api_key erp)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--name", default="", help="What the key is for (defaults to 'created on the command line')."
        )

    def handle(self, *args: object, username: str, name: str, **options: object) -> None:
        try:
            user = User.objects.get(username=username)
        except User.DoesNotExist:
            raise CommandError(f"No user {username!r}.") from None
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive; a key for them would never authenticate.")
        api_key, raw_key = api_key_create(user=user, name=name or "created on the command line", actor=None)
        self.stdout.write(raw_key)
        self.stderr.write(f"Created API key {api_key.prefix}… for {username}. It is shown only once.")
