"""Checkpoints catch what the hash chain alone cannot: a chain's last events, or a whole
chain, removed by someone who switched the append-only trigger off."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.audit.models import AuditEvent
from apps.workflows.services import instance_transition
from tests.audit.tampering import chain_of, make_history, tamper
from tests.factories import start_purchase_order

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def order(people):
    return make_history(people)


@pytest.fixture
def checkpoint_file(order, tmp_path):
    path = tmp_path / "checkpoint.json"
    call_command("audit_checkpoint", output=path, stderr=__import__("io").StringIO())
    return path


def test_an_unchanged_log_matches_its_checkpoint_and_grows_past_it(checkpoint_file, people, capsys):
    document = json.loads(checkpoint_file.read_text())
    assert document["events"] == AuditEvent.objects.count()
    assert len(document["heads"]) == AuditEvent.objects.values("chain_key").distinct().count()

    # The log goes on after the checkpoint: new chains, and new events on checkpointed ones.
    later = start_purchase_order(people["requester"], business_key="PO-LATER")
    instance_transition(instance=later, transition="cancel", actor=people["requester"])
    call_command("verify_audit", checkpoint=checkpoint_file)

    assert "Audit log intact" in capsys.readouterr().out


def test_a_removed_chain_tail_is_found(order, checkpoint_file):
    last = chain_of(order)[-1]
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [last.pk])
    call_command("verify_audit")  # the chain alone still looks whole

    with pytest.raises(CommandError, match=rf"chain instance:{order.pk} lost its events from seq {last.seq}"):
        call_command("verify_audit", checkpoint=checkpoint_file)


def test_a_removed_whole_chain_is_found(order, checkpoint_file):
    tamper("DELETE FROM audit_auditevent WHERE chain_key = %s", [f"instance:{order.pk}"])

    with pytest.raises(CommandError, match=rf"chain instance:{order.pk} lost its events"):
        call_command("verify_audit", checkpoint=checkpoint_file)


def test_an_edited_checkpoint_is_refused(checkpoint_file):
    document = json.loads(checkpoint_file.read_text())
    chain = next(iter(document["heads"]))
    document["heads"][chain][0] -= 1
    checkpoint_file.write_text(json.dumps(document))

    with pytest.raises(CommandError, match="signature does not match"):
        call_command("verify_audit", checkpoint=checkpoint_file)


def test_no_checkpoint_of_a_broken_log(order, tmp_path):
    tamper("UPDATE audit_auditevent SET action = 'forged' WHERE id = %s", [chain_of(order)[2].pk])

    with pytest.raises(CommandError, match="No checkpoint written"):
        call_command("audit_checkpoint", output=tmp_path / "c.json")
    assert not (tmp_path / "c.json").exists()


def test_an_unreadable_checkpoint_is_a_clear_error(order, tmp_path):
    path = tmp_path / "garbage.json"
    path.write_text("{not json")

    with pytest.raises(CommandError, match="Cannot read the checkpoint"):
        call_command("verify_audit", checkpoint=path)
    with pytest.raises(CommandError, match="not a checkpoint document"):
        path.write_text("[1, 2]")
        call_command("verify_audit", checkpoint=path)
