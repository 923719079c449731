"""Verifying the audit log from the page: a background job with progress, the outcome on the
page and in the log itself; on a real worker too."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.oversight import services
from apps.oversight.models import ChainVerification
from apps.oversight.services import VERIFICATIONS_CHAIN, chain_verification_request, chain_verification_run
from tests.audit.tampering import tamper
from tests.celery_workers import wait_for
from tests.oversight.conftest import rejected_order


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def start_from_the_page(client: Client, django_capture_on_commit_callbacks) -> ChainVerification:
    # After commit the outbox relay hands the job to Celery, which runs it at once in tests.
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/oversight/verification/start/")
    assert response.status_code == 302
    return ChainVerification.objects.get(pk=int(response["Location"].rstrip("/").rsplit("/", 1)[1]))


@pytest.mark.django_db
def test_a_verification_reports_the_events_it_checked_and_is_itself_recorded(
    people, django_capture_on_commit_callbacks
):
    rejected_order(people)
    client = signed_in(people["auditor"])
    newest = AuditEvent.objects.order_by("-id").first()
    # The events present when the run starts, with the request's own event among them.
    expected = AuditEvent.objects.count() + 1

    run = start_from_the_page(client, django_capture_on_commit_callbacks)

    assert run.status == ChainVerification.Status.PASSED
    assert run.checked == expected and run.total == expected
    page = client.get(f"/oversight/verification/{run.pk}/").content.decode()
    assert f"Verified {expected} events" in page
    assert f"up to event #{newest.pk + 1}" in page
    recorded = list(AuditEvent.objects.filter(chain_key=VERIFICATIONS_CHAIN).values_list("action", "data"))
    assert [action for action, _ in recorded] == ["audit.verification_requested", "audit.chain_verified"]
    assert recorded[1][1]["checked"] == expected
    assert recorded[1][1]["requested_by"] == "auditor"


@pytest.mark.postgres
@pytest.mark.django_db
def test_after_tampering_the_page_names_the_first_broken_event(people, django_capture_on_commit_callbacks):
    order = rejected_order(people)
    victim = AuditEvent.objects.filter(instance=order, action="task.completed").order_by("id").first()
    tamper("UPDATE audit_auditevent SET data = %s WHERE id = %s", ['{"outcome": "approve"}', victim.pk])
    client = signed_in(people["auditor"])

    run = start_from_the_page(client, django_capture_on_commit_callbacks)

    assert (run.status, run.broken_event_id) == (ChainVerification.Status.BROKEN, victim.pk)
    page = client.get(f"/oversight/verification/{run.pk}/").content.decode()
    assert f"The first broken event is #{victim.pk}" in page
    assert "content does not match its hash" in page
    assert f"/oversight/instances/{order.pk}/#event-{victim.pk}" in page
    outcome = AuditEvent.objects.get(chain_key=VERIFICATIONS_CHAIN, action="audit.chain_broken")
    assert outcome.data["broken_event"] == victim.pk


@pytest.mark.django_db
def test_the_page_polls_while_the_run_is_unfinished_and_stops_after(people):
    run = chain_verification_request(actor=people["auditor"])  # no commit here: not run yet
    client = signed_in(people["auditor"])

    fragment = client.get(f"/oversight/verification/{run.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 1s"' in fragment and "<html" not in fragment
    assert "Waiting for a worker" in fragment
    # Asking again while it waits gives the same run, not a second one.
    assert chain_verification_request(actor=people["auditor"]).pk == run.pk

    chain_verification_run(verification_id=run.pk)
    fragment = client.get(f"/oversight/verification/{run.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in fragment and "Verified" in fragment
    # A redelivered job finds the run finished and leaves it alone.
    events = AuditEvent.objects.count()
    assert chain_verification_run(verification_id=run.pk).status == ChainVerification.Status.PASSED
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_progress_is_written_to_the_run_as_the_walk_goes(people, monkeypatch):
    rejected_order(people)
    monkeypatch.setattr(services, "PROGRESS_EVERY", 5)
    run = chain_verification_request(actor=people["auditor"])
    seen: list[int] = []
    walk = services.audit_chain_first_break

    def watched_walk(*, on_progress, **kwargs):
        def progress(checked: int) -> None:
            on_progress(checked)
            seen.append(ChainVerification.objects.get(pk=run.pk).checked)  # what the page would read

        return walk(on_progress=progress, **kwargs)

    monkeypatch.setattr(services, "audit_chain_first_break", watched_walk)
    chain_verification_run(verification_id=run.pk)

    run.refresh_from_db()
    assert run.total > 10
    assert seen == list(range(5, run.total + 1, 5))


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_the_verification_runs_on_a_real_worker(people, workers):
    rejected_order(people)
    workers.start(beat=False, concurrency=1)
    client = signed_in(people["auditor"])

    response = client.post("/oversight/verification/start/")
    run_id = int(response["Location"].rstrip("/").rsplit("/", 1)[1])

    def finished() -> ChainVerification | None:
        run = ChainVerification.objects.get(pk=run_id)
        return run if run.is_finished else None

    run = wait_for(finished, timeout=60, interval=0.2, what="the worker to verify the log")
    assert run.status == ChainVerification.Status.PASSED
    assert run.checked >= AuditEvent.objects.filter(chain_key__startswith="instance:").count()
    assert AuditEvent.objects.filter(chain_key=VERIFICATIONS_CHAIN, action="audit.chain_verified").exists()


@pytest.mark.django_db
def test_a_run_stuck_for_an_hour_does_not_block_a_new_one(people):
    stuck = chain_verification_request(actor=people["auditor"])
    ChainVerification.objects.filter(pk=stuck.pk).update(
        status=ChainVerification.Status.RUNNING, requested_at=stuck.requested_at - services.STALE_AFTER
    )
    assert chain_verification_request(actor=people["auditor"]).pk != stuck.pk


@pytest.mark.django_db
def test_only_auditors_may_ask_for_a_verification(people, finance_manager):
    from apps.core.errors import NotPermitted

    for person in (finance_manager, people["lead"], people["manager"]):
        with pytest.raises(NotPermitted):
            chain_verification_request(actor=person)
    assert not ChainVerification.objects.exists()
