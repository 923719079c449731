import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from apps.notifications.relay_process import outbox_relay_serve


class Command(BaseCommand):
    help = (
        "Relay the outbox (live events, webhooks, jobs) as a process of its own, woken by "
        "PostgreSQL when a commit writes outbox rows. Run one or more beside the web and worker "
        "processes, which then set OUTBOX_RELAY_NUDGE=notify and spend no time relaying. Stops "
        "on SIGTERM or Ctrl-C after the run under way. Needs PostgreSQL (LISTEN/NOTIFY)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--poll-seconds",
            type=float,
            default=None,
            help="also relay this often without being woken, for rows whose time has come "
            f"(default: OUTBOX_RELAY_SWEEP_SECONDS, {settings.OUTBOX_RELAY_SWEEP_SECONDS:g} s)",
        )

        parser.add_argument(
            "--gather-seconds",
            type=float,
            default=None,
            help="woken under load (within 0.1 s of its last run), first gather the commits of "
            "this long, so one run serves them all (default: OUTBOX_RELAY_GATHER_SECONDS, "
            f"{settings.OUTBOX_RELAY_GATHER_SECONDS:g} s; 0 runs at once)",
        )

    def handle(self, *args: object, **options: object) -> None:
        if connection.vendor != "postgresql":
            raise CommandError(
                "The relay process needs PostgreSQL (it is woken by LISTEN/NOTIFY). With SQLite "
                "the web process relays (OUTBOX_RELAY_NUDGE=inline)."
            )
        if not settings.OUTBOX_RELAY_HERE:
            raise CommandError(
                "OUTBOX_RELAY_HERE is off in this environment: this process would relay nothing."
            )
        poll = options["poll_seconds"]
        if poll is None:
            poll = settings.OUTBOX_RELAY_SWEEP_SECONDS
        if poll <= 0:
            raise CommandError("--poll-seconds must be more than 0.")
        gather = options["gather_seconds"]
        if gather is None:
            gather = settings.OUTBOX_RELAY_GATHER_SECONDS
        if not 0 <= gather <= 1:
            raise CommandError("--gather-seconds must be between 0 and 1.")
        stop = threading.Event()

        def stop_asked(signum: int, frame: object) -> None:
            # Not stop.set() here: the handler runs in the main thread, which may be holding the
            # event's lock inside stop.wait(); another thread takes it once the wait lets go.
            threading.Thread(target=stop.set, daemon=True).start()

        signal.signal(signal.SIGTERM, stop_asked)
        signal.signal(signal.SIGINT, stop_asked)
        self.stderr.write(f"Outbox relay: listening for commits (and relaying every {poll:g} s).")
        outbox_relay_serve(stop=stop, poll_seconds=poll, gather_seconds=gather)
        self.stderr.write("Outbox relay stopped.")
