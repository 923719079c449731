from django.core.management.base import BaseCommand, CommandError

from apps.audit.selectors import audit_chain_first_break


class Command(BaseCommand):
    help = (
        "Verify the audit log's hash chains. Exits 0 when every chain is intact; otherwise "
        "exits 1 and names the first broken event (id, chain, sequence number and why)."
    )

    def handle(self, *args: object, **options: object) -> None:
        checked, broken = audit_chain_first_break()
        if broken is not None:
            raise CommandError(
                f"Audit log broken at event {broken.event_id} "
                f"(chain {broken.chain_key}, seq {broken.seq}): {broken.reason}. "
                f"{checked} event(s) checked up to it."
            )
        self.stdout.write(self.style.SUCCESS(f"Audit log intact: {checked} event(s) verified."))
