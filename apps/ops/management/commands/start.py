from __future__ import annotations

import errno
import socket
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.automation.embedded import start_embedded_relay, start_embedded_worker
from apps.notifications.web_relay import web_relay_start
from apps.ops.checks import relay_nudge_fits_the_database
from apps.ops.management.commands.seed_demo import DEFAULT_PASSWORD_FILE


class Command(BaseCommand):
    help = (
        "Run the whole application on the embedded default: apply the database migrations, seed the demo "
        "data (idempotent, see seed_demo), print the URL and the demo sign-ins, start the background "
        "worker with beat as a child process (automated steps, the outbox, SLA timers), and serve the "
        "site with Daphne until Ctrl-C. Data is kept between runs (SQLite in var/db.sqlite3 unless "
        "DATABASE_URL says otherwise)."
    )
    # runserver checks the project itself, once, just before it serves.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addr", default="127.0.0.1", help="Address to listen on (default: 127.0.0.1).")
        parser.add_argument("--port", type=int, default=8000, help="Port to listen on (default: 8000).")
        parser.add_argument(
            "--password-file",
            type=Path,
            default=DEFAULT_PASSWORD_FILE,
            help=f"Where the shared demo password is kept (default: {DEFAULT_PASSWORD_FILE}).",
        )
        parser.add_argument(
            "--no-worker",
            action="store_false",
            dest="worker",
            help="Do not start the background worker and beat (when they run elsewhere, e.g. on Redis).",
        )

    def handle(self, *args: object, **options: object) -> None:
        addr, port = str(options["addr"]), int(options["port"])
        if not 0 < port < 65536:
            raise CommandError(f"--port must be between 1 and 65535, not {port}.")
        _port_check(addr, port)
        for error in relay_nudge_fits_the_database(None):
            raise CommandError(f"{error.msg} {error.hint}")
        database = settings.DATABASES["default"]
        self._say(f"Database: {database['ENGINE'].rsplit('.', 1)[-1]} {database['NAME']}")
        self._say("Applying migrations...")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("seed_demo", password_file=options["password_file"], stdout=self.stdout)

        host = f"[{addr}]" if ":" in addr else addr
        shown = "127.0.0.1" if addr in ("0.0.0.0", "::") else host
        self._say("")
        self._say(self.style.SUCCESS(f"Approval inbox: http://{shown}:{port}/"))
        self._say(
            "Sign in as a demo user above, e.g. lead1 (team lead) or finance1; admin for the admin site."
        )
        self._say("")

        # Without Redis the channel layer is this process's memory: only what this process
        # sends reaches the sockets, so it relays the whole outbox and the worker none of it.
        relay_here = settings.CHANNEL_LAYERS["default"]["BACKEND"].endswith(".InMemoryChannelLayer")
        if options["worker"]:
            # A child process with the worker and beat; it stops when this command exits.
            start_embedded_worker(relay=not relay_here)
            if settings.OUTBOX_RELAY_NUDGE == "notify" and not relay_here:
                # No process relays its own commits: the relay process does, woken by PostgreSQL.
                start_embedded_relay()
        if relay_here:
            import daphne.server  # noqa: F401 (installs Twisted's asyncio reactor, as runserver does)
            from twisted.internet import reactor

            # Called in the server's event loop once it runs.

            reactor.callLater(0, web_relay_start)
        call_command("runserver", f"{host}:{port}", use_reloader=False)

    def _say(self, line: str) -> None:
        self.stdout.write(line)
        # Someone (or a test) may be waiting for the URL on a pipe.
        self.stdout.flush()


def _port_check(addr: str, port: int) -> None:
    """Refuse to start when the address cannot be listened on. Daphne only logs a failure to
    listen and returns, so `start` would set everything up and exit 0 with nothing served.
    Bound the way Twisted binds (SO_REUSEADDR): a port whose old connections linger in
    TIME_WAIT is free for it."""
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            addr, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise CommandError(f"Cannot listen on {addr}:{port}: {error.strerror}.") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise CommandError(
                    f"Port {port} on {addr} is in use by another program. Stop it, or start on "
                    f"another port: manage.py start --port {port + 1 if port < 65535 else 8000}"
                ) from None
            raise CommandError(f"Cannot listen on {addr}:{port}: {error.strerror}.") from None
