import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.selectors import CheckpointInvalid, audit_checkpoint_create


class Command(BaseCommand):
    help = (
        "Write a signed checkpoint of the audit log: the last event of every hash chain. Keep "
        "it where the database's operators cannot write (e.g. a daily copy to other storage); "
        "`verify_audit --checkpoint FILE` later proves no chain lost events since. Refuses "
        "(exit 1) when the log is already broken."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", type=Path, help="write to this file instead of standard output")

    def handle(self, *args: object, **options: object) -> None:
        try:
            checkpoint = audit_checkpoint_create()
        except CheckpointInvalid as error:
            raise CommandError(f"No checkpoint written: {error}.") from None
        document = json.dumps(checkpoint, indent=2, sort_keys=True)
        if options["output"] is None:
            self.stdout.write(document)
        else:
            options["output"].write_text(document + "\n")
            self.stderr.write(
                f"Checkpoint of {len(checkpoint['heads'])} chain(s) written to {options['output']}."
            )
