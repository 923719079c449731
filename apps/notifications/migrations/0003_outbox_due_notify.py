"""On PostgreSQL, a commit that wrote outbox rows wakes the relay process (`manage.py
outbox_relay`, LISTEN outbox_due) with no statement of its own: a statement-level trigger
queues one NOTIFY, which PostgreSQL delivers when, and only if, the transaction commits
(docs/adr/outbox-relay-process.md). SQLite (the embedded default) has no NOTIFY; its relay
runs in the web process.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION notifications_outbox_due_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- One payload for every commit: PostgreSQL folds a transaction's identical notifications
    -- into one, and the relay reads every due row whoever woke it.
    PERFORM pg_notify('outbox_due', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER notifications_outbox_due_notify
AFTER INSERT ON notifications_outboxmessage
FOR EACH STATEMENT EXECUTE FUNCTION notifications_outbox_due_notify();
"""

DROP = """
DROP TRIGGER IF EXISTS notifications_outbox_due_notify ON notifications_outboxmessage;
DROP FUNCTION IF EXISTS notifications_outbox_due_notify();
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("notifications", "0002_live_notifications")]
    operations = [migrations.RunPython(create, drop)]
