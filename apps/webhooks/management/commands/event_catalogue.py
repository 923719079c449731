from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandParser

from apps.notifications.events import EVENT_TYPES, event_schema

DOCS_COMMAND = "python3 manage.py event_catalogue --output docs/events.md"

RECEIVER_EXAMPLE = """\
```python
# A receiver that checks every request with the same package that signs it
# (pip install standardwebhooks), before trusting a byte of it.
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

webhook = Webhook("whsec_...")  # the secret shown when the endpoint was created
seen: set[str] = set()  # keep this in your database: deliveries are at least once


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            event = webhook.verify(body, dict(self.headers))  # signature and timestamp (5 min)
        except WebhookVerificationError:
            self.send_response(400)
            self.end_headers()
            return
        if self.headers["webhook-id"] not in seen:  # the same id on every retry
            seen.add(self.headers["webhook-id"])
            print(event["type"], event["data"])  # hand it to a queue of your own; answer fast
        self.send_response(204)  # any 2xx within the timeout; 410 unsubscribes for good
        self.end_headers()


HTTPServer(("0.0.0.0", 8080), Receiver).serve_forever()
```
"""


def catalogue_markdown() -> str:
    lines = [
        "# Events",
        "",
        f"<!-- Generated from apps/notifications/events.py by `{DOCS_COMMAND}`; do not edit. -->",
        "",
        "The same catalogue feeds the live inbox and the webhooks. A webhook request is a POST",
        'of `{"type": "<event type>", "timestamp": "<when it happened>", "data": {...}}`, signed',
        "by the [Standard Webhooks](https://www.standardwebhooks.com/) specification: headers",
        "`webhook-id` (the same on every retry of one delivery), `webhook-timestamp` (seconds",
        "since the epoch of this attempt) and `webhook-signature` (`v1,<base64>`, two of them",
        "separated by a space while a rotated secret's overlap lasts). `data` follows the JSON",
        "Schema of its type below. An endpoint hears only of tasks and instances its owner may see",
        "when the event is sent (a confidential task: only its grantees).",
        "",
        "Besides these, `POST /api/v1/webhook-endpoints/{id}/ping/` sends a `webhook.ping` event",
        '(`data`: `{"endpoint": <id>, "requested_by": <username>}`) that cannot be subscribed to.',
        "",
        "| type | what happened |",
        "| --- | --- |",
    ]
    lines += [
        f"| [`{name}`](#{name.replace('.', '')}) | {event.summary} |" for name, event in EVENT_TYPES.items()
    ]
    lines += ["", "## Verifying a request", "", RECEIVER_EXAMPLE.rstrip(), ""]
    for name, event in EVENT_TYPES.items():
        lines += [
            f"## {name}",
            "",
            event.summary,
            "",
            "```json",
            json.dumps(event_schema(event), indent=2),
            "```",
            "",
        ]
    return "\n".join(lines)


class Command(BaseCommand):
    help = (
        "Print the event catalogue (every event type and the JSON Schema of its data, with a "
        f"receiver example) as Markdown. The docs are regenerated with: {DOCS_COMMAND}"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", type=Path, help="Write to this file instead of standard output.")

    def handle(self, *args: object, **options: object) -> None:
        text = catalogue_markdown()
        if options["output"]:
            Path(options["output"]).write_text(text)
        else:
            self.stdout.write(text, ending="")
