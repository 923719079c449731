import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.selectors import audit_chain_first_break, audit_checkpoint_problem


class Command(BaseCommand):
    help = (
        "Verify the audit log's hash chains. Exits 0 when every chain is intact; otherwise "
        "exits 1 and names the first broken event (id, chain, sequence number and why). "
        "With --checkpoint FILE (written earlier by audit_checkpoint) it also checks that no "
        "chain lost events the checkpoint saw."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--checkpoint", type=Path, help="a checkpoint file written by audit_checkpoint")

    def handle(self, *args: object, **options: object) -> None:
        checked, broken = audit_chain_first_break()
        if broken is not None:
            raise CommandError(
                f"Audit log broken at event {broken.event_id} "
                f"(chain {broken.chain_key}, seq {broken.seq}): {broken.reason}. "
                f"{checked} event(s) checked up to it."
            )
        if options["checkpoint"] is not None:
            try:
                checkpoint = json.loads(options["checkpoint"].read_text())
            except (OSError, ValueError) as error:
                raise CommandError(f"Cannot read the checkpoint {options['checkpoint']}: {error}") from None
            problem = audit_checkpoint_problem(checkpoint=checkpoint)
            if problem:
                raise CommandError(f"Audit log does not match the checkpoint: {problem}.")
        self.stdout.write(self.style.SUCCESS(f"Audit log intact: {checked} event(s) verified."))
