"""The only writers of workflow instances. `instance_fire` is the one place a transition
runs: it checks the trigger and permission, runs the FSM transition, saves, audits, writes
its outbox row, and calls the registered reactions (apps.workflows.reactions: the human-task
app opens and closes tasks, automation schedules steps), all inside the caller's
transaction on a locked row.
`instance_start` and `instance_transition` own that transaction.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import django_fsm
from django.db import IntegrityError, transaction
from django.db.models import Model, QuerySet, Subquery
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from apps.audit.services import AuditEntry, audit_chain_head_known, audit_record_all, instance_chain_key
from apps.core import transactions
from apps.core.compiled import STAND_IN_ID, row_update_compiled, rows_compiled, rows_insert_compiled
from apps.core.errors import (
    DuplicateBusinessKey,
    InvalidProcessData,
    NotFound,
    NotPermitted,
    StaleVersion,
    TransitionNotAllowed,
)
from apps.notifications.events import event_put, user_group
from apps.workflows.models import WorkflowInstance
from apps.workflows.reactions import StateChange, reactions
from apps.workflows.registry import as_definition, definition_latest
from apps.workflows.transitions import TransitionContext
from apps.workflows.validation import validate_process_data

if TYPE_CHECKING:
    from apps.accounts.models import User

BUSINESS_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,119}$")


def instance_start(
    *, kind: str, business_key: str, data: dict[str, Any], actor: User | None, requester: User | None = None
) -> WorkflowInstance:
    """Start a process of `kind` on the newest definition, validated against its schema.

    `requester` is the person the process is for (four-eyes rules exclude them); it defaults
    to the actor. `actor` None means the system itself.
    """
    definition = definition_latest(kind)
    if not definition.may_start(actor):
        raise NotPermitted(f"You may not start: {definition.process_title}.")
    if not isinstance(business_key, str) or not BUSINESS_KEY.match(business_key):
        raise InvalidProcessData(
            "The business key must be 1-120 letters, digits or . _ : / - and start with a letter or digit.",
            errors={"business_key": ["Invalid business key."]},
        )
    if not isinstance(data, dict):
        raise InvalidProcessData("The data must be a JSON object.", errors={"data": ["Must be an object."]})
    validate_process_data(definition.data_schema, data)
    instance = definition(
        kind=definition.process_name,
        definition_version=definition.process_version,
        business_key=business_key,
        data=data,
        requester=requester or actor,
        started_by=actor,
    )
    context = TransitionContext(actor=actor)
    try:
        with transactions.atomic_batched():
            # The start transition runs before the row is written, so the row is written once.
            initial_state = instance.state
            from_state = _transition_run(
                instance=instance, transition="start", context=context, trigger="start"
            )
            rows_insert_compiled([instance])
            # Nobody else can see the row before this transaction commits: it holds the row,
            # and the instance's audit chain is empty.
            transactions.row_hold(instance)
            audit_chain_head_known(chain_key=instance_chain_key(instance.pk), seq=0, hash="")
            started = AuditEntry(
                action="instance.started",
                actor=actor,
                instance=instance,
                to_state=initial_state,
                data={
                    "kind": kind,
                    "definition_version": definition.process_version,
                    "business_key": business_key,
                    "data": data,
                    "requester": instance.requester.get_username() if instance.requester else None,
                },
            )
            _transition_record(
                instance=instance,
                transition="start",
                from_state=from_state,
                context=context,
                trigger="start",
                audit_first=(started,),
            )
    except IntegrityError as error:
        # The insert is the transaction's first statement: a duplicate key fails it, and the
        # rollback of this block undoes nothing else (no savepoint needed around the insert).
        if _constraint_of(error) != "instance_kind_business_key_unique":
            raise
        raise DuplicateBusinessKey(
            f"A {kind} with business key {business_key!r} already exists.",
            errors={"business_key": ["Already used for this process kind."]},
        ) from None
    return instance


def _constraint_of(error: IntegrityError) -> str | None:
    diagnostics = getattr(error.__cause__, "diag", None)
    if diagnostics is not None:
        return diagnostics.constraint_name
    # SQLite names the columns, not the constraint.
    if "workflows_workflowinstance.kind, workflows_workflowinstance.business_key" in str(error):
        return "instance_kind_business_key_unique"
    return None


def instance_lock(
    *,
    instance_id: int | None = None,
    of_row: tuple[type[Model], int] | None = None,
    skip_locked: bool = False,
    missing_ok: bool = False,
) -> WorkflowInstance | None:
    """Lock the instance row for the rest of the transaction and return it as its process kind.

    Every writer of an instance's rows (its tasks, step runs, audit chain, outbox rows) takes
    this lock first, so they never deadlock and outbox ids follow commit order; the lock also
    serialises the instance's audit chain. With `skip_locked` (timers), an instance another
    transaction holds answers None at once; with `missing_ok`, so does one that does not
    exist. Instead of `instance_id`, `of_row` (a model with an `instance` foreign key, and a
    row's id) locks the instance that row belongs to, found in the same statement.

    The statement is built once per shape (apps.core.compiled): the lock is on every writer's path.
    """
    if not transaction.get_connection().in_atomic_block:
        raise TransactionManagementError("instance_lock runs inside the transaction that holds the lock")
    if of_row is not None:
        model, row_id = of_row

        def build() -> QuerySet[WorkflowInstance]:
            of = model._default_manager.filter(pk=STAND_IN_ID).values("instance_id")[:1]
            return WorkflowInstance.objects.select_for_update(skip_locked=skip_locked).filter(pk=Subquery(of))

        key: tuple[Any, ...] = ("instance lock of", model, skip_locked)
    else:
        row_id = instance_id

        def build() -> QuerySet[WorkflowInstance]:
            return WorkflowInstance.objects.select_for_update(skip_locked=skip_locked).filter(pk=STAND_IN_ID)

        key = ("instance lock", skip_locked)
    try:
        row_id = int(row_id)
    except (ValueError, TypeError):
        found = []
    else:
        found = rows_compiled(key, build, {STAND_IN_ID: row_id}) if -(2**63) <= row_id < 2**63 else []
    instance = found[0] if found else None
    if instance is None:
        if skip_locked or missing_ok:
            return None
        raise NotFound("No such process instance.")
    transactions.row_hold(instance)
    return as_definition(instance)


def instance_transition(
    *,
    instance: WorkflowInstance | int,
    transition: str,
    actor: User | None,
    data: dict[str, Any] | None = None,
    expected_version: int | None = None,
) -> WorkflowInstance:
    """Fire an external transition (e.g. cancel) for a person or API client."""
    instance_id = instance.pk if isinstance(instance, WorkflowInstance) else instance
    if data is not None and not isinstance(data, dict):
        raise InvalidProcessData("The data must be a JSON object.", errors={"data": ["Must be an object."]})
    # It goes into the audit event as it is: refuse here what jsonb cannot hold (lone
    # surrogates, infinite numbers, NULs) or would bloat the log, not as a database error.
    validate_process_data({"type": "object"}, data or {}, what="transition data")
    with transactions.atomic_batched():
        locked = instance_lock(instance_id=instance_id)
        if expected_version is not None and locked.version != expected_version:
            raise StaleVersion(
                f"The instance changed since you read it (version {locked.version}, not {expected_version})."
            )
        instance_fire(
            instance=locked,
            transition=transition,
            context=TransitionContext(actor=actor, data=data or {}),
            trigger="external",
        )
    return locked


def instance_fire(
    *, instance: WorkflowInstance, transition: str, context: TransitionContext, trigger: str
) -> None:
    """Run one transition on an instance the caller has locked, inside the caller's transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("instance_fire must run inside a transaction on a locked instance")
    from_state = _transition_run(instance=instance, transition=transition, context=context, trigger=trigger)
    row_update_compiled(instance)
    _transition_record(
        instance=instance, transition=transition, from_state=from_state, context=context, trigger=trigger
    )


def _transition_run(
    *, instance: WorkflowInstance, transition: str, context: TransitionContext, trigger: str
) -> str:
    """Check the trigger and permission and run the FSM transition in memory; the state it left."""
    transitions = {t.name: t for t in instance.get_all_state_transitions()}
    declared = transitions.get(transition)
    if declared is None:
        raise TransitionNotAllowed(f"A {instance.kind} has no transition {transition!r}.")
    declared_trigger = declared.custom.get("trigger")
    if declared_trigger != trigger:
        how = {
            "task": "by deciding its task",
            "system": "by an automated step",
            "start": "when the process starts",
        }
        raise TransitionNotAllowed(
            f"{transition!r} cannot be requested directly; "
            f"it happens {how.get(declared_trigger, 'internally')}."
        )
    method = getattr(instance, transition)
    actor = context.actor
    # The state first: django-fsm's permission check also answers False for a transition the
    # state does not offer, which would tell the requester of an order someone approved a
    # moment ago that they "may not" cancel it, rather than that it is too late.
    if not django_fsm.can_proceed(method, check_conditions=False):
        raise TransitionNotAllowed(f"Cannot {transition} a {instance.kind} that is {instance.state}.")
    if trigger == "external" and actor is not None and not django_fsm.has_transition_perm(method, actor):
        raise NotPermitted(f"You may not {transition} this {instance.process_title.lower()}.")
    if not django_fsm.can_proceed(method):
        raise TransitionNotAllowed(f"Cannot {transition} a {instance.kind} that is {instance.state}.")

    from_state = instance.state
    try:
        method(context)
    except django_fsm.TransitionNotAllowed as error:
        raise TransitionNotAllowed(str(error)) from None
    instance.version += 1
    if instance.is_finished:
        instance.finished_at = timezone.now()
    return from_state


def _transition_record(
    *,
    instance: WorkflowInstance,
    transition: str,
    from_state: str,
    context: TransitionContext,
    trigger: str,
    audit_first: tuple[AuditEntry, ...] = (),
) -> None:
    """Audit a transition that has run and been saved, write its outbox row, call the reactions."""
    actor = context.actor
    transitioned = AuditEntry(
        action="instance.transitioned",
        actor=actor,
        instance=instance,
        task=context.task,
        from_state=from_state,
        to_state=instance.state,
        data={"transition": transition, "trigger": trigger, "input": context.data},
    )
    audit_record_all([*audit_first, transitioned])

    # Side effects leave through the outbox, written in this transaction (DESIGN.md invariant 5).
    event_put(
        event="instance.transitioned",
        instance=instance,
        data={
            "instance": instance.pk,
            "kind": instance.kind,
            "business_key": instance.business_key,
            "transition": transition,
            "from_state": from_state,
            "to_state": instance.state,
            "version": instance.version,
            "actor": actor.get_username() if actor else None,
        },
        # Those whose process it is; the people working its tasks hear of them from the tasks.
        groups=[user_group(pk) for pk in {instance.requester_id, instance.started_by_id} if pk],
    )
    change = StateChange(
        instance=instance, transition=transition, from_state=from_state, context=context, trigger=trigger
    )
    for reaction in reactions():
        reaction(change)
