"""Invariant 4, second half: the log is tamper-evident. Whoever gets past the trigger (here:
the trigger switched off for one statement, as a database owner could) leaves a hash
chain that `manage.py verify_audit` finds broken, and it names the first broken event.
"""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.audit.chain import hash_of
from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_chain_first_break
from apps.workflows.models import WorkflowInstance
from config.env import env
from tests.audit.tampering import chain_of, make_history, tamper

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def assert_verify_names(event_id: int, reason: str) -> None:
    with pytest.raises(CommandError, match=rf"broken at event {event_id} \(.*\): {reason}"):
        call_command("verify_audit")


@pytest.fixture
def order(people) -> WorkflowInstance:
    return make_history(people)


@pytest.fixture
def middle(order) -> AuditEvent:
    """An event with events before and after it in its chain."""
    events = chain_of(order)
    assert len(events) >= 7
    return events[3]


def test_an_intact_log_verifies(order, capsys):
    call_command("verify_audit")

    assert f"Audit log intact: {AuditEvent.objects.count()} event(s) verified." in capsys.readouterr().out


@pytest.mark.parametrize(
    "forgery",
    [
        'data = data || \'{"comment": "forged"}\'::jsonb',
        "actor_label = 'someone_else'",
        "actor_id = NULL, actor_type = 'system'",
        "to_state = 'approved'",
        "action = 'task.forged'",
        "occurred_at = occurred_at - interval '1 day'",
        "source_ip = '203.0.113.7'",
    ],
    ids=["data", "actor_label", "actor", "to_state", "action", "occurred_at", "source_ip"],
)
def test_a_changed_field_is_found_at_its_event(middle, forgery):
    tamper(f"UPDATE audit_auditevent SET {forgery} WHERE id = %s", [middle.pk])

    assert_verify_names(middle.pk, "content does not match its hash")


def test_a_changed_event_given_a_fresh_hash_is_found_at_the_next_event(order, middle):
    forged = replace_fields(middle, to_state="approved")
    tamper(
        "UPDATE audit_auditevent SET to_state = %s, hash = %s WHERE id = %s",
        [forged.to_state, forged.hash, middle.pk],
    )
    successor = chain_of(order)[4]

    assert_verify_names(successor.pk, "prev_hash does not match predecessor")


def test_a_chain_rewritten_without_the_hash_key_is_found_at_its_first_forged_event(order, middle, settings):
    """Whoever can switch the trigger off but does not hold AUDIT_HASH_KEY cannot re-forge a
    chain: every hash they compute, even consistently to the chain's end, fails to verify."""
    real_key = settings.AUDIT_HASH_KEY
    settings.AUDIT_HASH_KEY = "a key the forger guessed"
    prev_hash = middle.prev_hash
    rewritten = []
    for event in chain_of(order)[3:]:
        event.prev_hash = prev_hash
        if event.pk == middle.pk:
            event.to_state = "approved"
        event.hash = hash_of(event)
        prev_hash = event.hash
        rewritten.append(event)
    settings.AUDIT_HASH_KEY = real_key
    for event in rewritten:
        tamper(
            "UPDATE audit_auditevent SET to_state = %s, prev_hash = %s, hash = %s WHERE id = %s",
            [event.to_state, event.prev_hash, event.hash, event.pk],
        )

    assert_verify_names(middle.pk, "content does not match its hash")


def test_a_deleted_event_is_found_at_the_event_after_the_gap(order, middle):
    successor = chain_of(order)[4]
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [middle.pk])

    assert_verify_names(successor.pk, "expected seq 4")


def test_a_deleted_first_event_is_found(order):
    first, second = chain_of(order)[:2]
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [first.pk])

    assert_verify_names(second.pk, "expected seq 1")


def test_a_changed_prev_hash_is_found_at_its_event(order, middle):
    two_back = chain_of(order)[1]
    tamper("UPDATE audit_auditevent SET prev_hash = %s WHERE id = %s", [two_back.hash, middle.pk])

    assert_verify_names(middle.pk, "prev_hash does not match predecessor")


def test_two_swapped_events_are_found_at_the_first_out_of_place(order, middle):
    successor = chain_of(order)[4]
    # Three statements: the (chain_key, seq) unique constraint refuses a swap in one.
    tamper("UPDATE audit_auditevent SET seq = 1000000 WHERE id = %s", [middle.pk])
    tamper("UPDATE audit_auditevent SET seq = %s WHERE id = %s", [middle.seq, successor.pk])
    tamper("UPDATE audit_auditevent SET seq = %s WHERE id = %s", [successor.seq, middle.pk])

    assert_verify_names(successor.pk, "prev_hash does not match predecessor")


def test_the_first_break_is_named_when_several_chains_are_broken(order, people):
    onboarding = WorkflowInstance.objects.get(business_key="ONB-AUDIT")
    # Chains are walked in chain_key order; whichever comes first is the one reported.
    later, earlier = sorted([order, onboarding], key=lambda i: f"instance:{i.pk}", reverse=True)
    tamper("UPDATE audit_auditevent SET action = 'x' WHERE id = %s", [chain_of(later)[1].pk])
    tamper("UPDATE audit_auditevent SET action = 'x' WHERE id = %s", [chain_of(earlier)[2].pk])

    assert_verify_names(chain_of(earlier)[2].pk, "content does not match its hash")


def test_verification_reads_the_whole_log_in_one_query(order, django_assert_num_queries):
    events = AuditEvent.objects.count()
    # One server-side cursor over (chain_key, seq), fetched in chunks, however long the log.
    with django_assert_num_queries(1):
        checked, broken = audit_chain_first_break(chunk_size=5)
    assert (checked, broken) == (events, None)


def test_verify_audit_explains_itself():
    shown = run_verify_audit("--help")

    assert shown.returncode == 0, shown.stderr
    assert "Verify the audit log's hash chains" in shown.stdout


@pytest.mark.django_db(transaction=True)
def test_verify_audit_run_from_the_shell_exits_0_when_intact_and_1_naming_the_forged_event(people):
    """The command as an operator runs it: a separate process reading committed data."""
    order = make_history(people)
    forged = chain_of(order)[2]

    intact = run_verify_audit()
    tamper("UPDATE audit_auditevent SET data = '{}'::jsonb WHERE id = %s", [forged.pk])
    broken = run_verify_audit()

    assert (intact.returncode, broken.returncode) == (0, 1), (intact.stderr, broken.stderr)
    assert "Audit log intact" in intact.stdout
    assert f"broken at event {forged.pk} (chain instance:{order.pk}, seq 3)" in broken.stderr


def run_verify_audit(*arguments: str) -> subprocess.CompletedProcess[str]:
    """`manage.py verify_audit` in a process of its own, on the test database."""
    database = settings.DATABASES["default"]
    credentials = quote(database["USER"]) + (
        f":{quote(database['PASSWORD'])}" if database["PASSWORD"] else ""
    )
    port = f":{database['PORT']}" if database["PORT"] else ""
    url = f"postgres://{credentials}@{database['HOST']}{port}/{quote(database['NAME'])}"
    return subprocess.run(
        [sys.executable, "manage.py", "verify_audit", *arguments],
        cwd=settings.BASE_DIR,
        env={**env.ENVIRON, "DJANGO_SETTINGS_MODULE": "config.settings_test", "TEST_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )


def replace_fields(event: AuditEvent, **changes: object) -> AuditEvent:
    """A copy of `event` with `changes` and the hash it would then carry."""
    forged = AuditEvent(**{f.attname: getattr(event, f.attname) for f in AuditEvent._meta.concrete_fields})
    for name, value in changes.items():
        setattr(forged, name, value)
    forged.hash = hash_of(forged)
    return forged
