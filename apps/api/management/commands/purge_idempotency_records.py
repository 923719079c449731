from __future__ import annotations

from django.core.management.base import BaseCommand

from apps.api.services import idempotency_records_purge


class Command(BaseCommand):
    help = "Delete stored Idempotency-Key answers older than API_IDEMPOTENCY_TTL_HOURS (run it daily)."

    def handle(self, *args: object, **options: object) -> None:
        deleted = idempotency_records_purge()
        self.stdout.write(f"Deleted {deleted} idempotency record(s).")
