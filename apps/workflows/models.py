from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django_fsm import FSMField, FSMModelMixin

from apps.accounts.roles import INTEGRATIONS
from apps.core.compiled import STAND_IN_ID, exists_compiled
from apps.workflows.definitions import AutomatedStep, HumanStep


class WorkflowInstance(FSMModelMixin, models.Model):
    """One run of a business process. Its `state` changes only through FSM transitions
    fired by apps.workflows.services.instance_transition.

    Each process kind is a proxy model of this one (apps/workflows/processes/) that
    declares its transitions, steps and data schema; `definition_version` pins the
    version of that definition an instance was started on.
    """

    INITIAL_STATE = "new"

    kind = models.CharField(max_length=64)
    definition_version = models.PositiveIntegerField()
    business_key = models.CharField(max_length=120)
    state = FSMField(default=INITIAL_STATE, protected=True, max_length=64)
    data = models.JSONField(default=dict)
    # No index of its own: instance_requester_idx starts with this column and serves its lookups;
    # another index would only slow every write.
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="requested_instances",
        db_index=False,
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="started_instances",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    # Declared by each process kind (proxy model).
    process_name: ClassVar[str] = ""
    process_title: ClassVar[str] = ""
    process_version: ClassVar[int] = 0
    data_schema: ClassVar[dict[str, Any]] = {"type": "object"}
    human_steps: ClassVar[tuple[HumanStep, ...]] = ()
    automated_steps: ClassVar[tuple[AutomatedStep, ...]] = ()
    final_states: ClassVar[frozenset[str]] = frozenset()
    # Who may start one: the names of the roles (groups) whose members may, besides holding
    # `workflows.start_instance`; empty means anyone who holds that permission. Integrations
    # (external systems) may start every kind.
    started_by_roles: ClassVar[tuple[str, ...]] = ()
    # One sentence for the page that offers it: what starting one does.
    start_summary: ClassVar[str] = ""
    # The prefix of the business keys the pages propose (PO -> PO-2026-000123).
    business_key_prefix: ClassVar[str] = ""
    # People's words for this kind's states, steps, outcomes and fields, where the generic
    # wording (apps.inbox.wording) would read badly: {"states": {"cfo_review": "CFO review"}}.
    # Keys: "noun" (str), "states", "steps", "outcomes", "waiting_for" (state -> who it waits for).
    words: ClassVar[dict[str, Any]] = {}

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "business_key"], name="instance_kind_business_key_unique")
        ]
        indexes = [
            models.Index(fields=["kind", "state", "-created_at"], name="instance_kind_state_idx"),
            models.Index(fields=["state", "-created_at"], name="instance_state_idx"),
            models.Index(fields=["-created_at"], name="instance_created_idx"),
            models.Index(fields=["requester", "-created_at"], name="instance_requester_idx"),
            # Finding a process by its business key alone, whatever its kind (the auditors' search).
            models.Index(fields=["business_key"], name="instance_business_key_idx"),
        ]
        permissions = [("start_instance", "Can start process instances")]

    def __str__(self) -> str:
        return f"{self.kind} {self.business_key} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state in self.final_states

    @classmethod
    def may_start(cls, user: Any) -> bool:
        """Whether `user` may start a process of this kind (None, the system itself, always may)."""
        if user is None:
            return True
        if not user.is_active:
            return False
        if user.is_superuser:
            return True
        # Django's model backends' answer to has_perm("workflows.start_instance") and the role
        # test in one query, rather than all the person's permissions first (two queries),
        # built once per kind (apps.core.compiled).
        return exists_compiled(
            ("may-start", cls.started_by_roles), cls._may_start_query, {STAND_IN_ID: user.pk}
        )

    @classmethod
    def _may_start_query(cls) -> models.QuerySet[Any]:
        start = Permission.objects.filter(content_type__app_label="workflows", codename="start_instance")
        person = OuterRef("pk")
        may = get_user_model().objects.filter(
            Q(Exists(start.filter(user=person))) | Q(Exists(start.filter(group__user=person))), pk=STAND_IN_ID
        )
        if cls.started_by_roles:
            # External systems (the Integrations role) start any kind, on behalf of the people they name.
            roles = (*cls.started_by_roles, INTEGRATIONS.name)
            may = may.filter(Exists(Group.objects.filter(user=person, name__in=roles)))
        return may

    @classmethod
    def human_step(cls, name: str) -> HumanStep | None:
        return next((step for step in cls.human_steps if step.name == name), None)

    @classmethod
    def human_steps_in(cls, state: str) -> list[HumanStep]:
        return [step for step in cls.human_steps if step.state == state]

    @classmethod
    def automated_steps_in(cls, state: str) -> list[AutomatedStep]:
        return [step for step in cls.automated_steps if step.state == state]


# The process kinds are proxy models: importing them here registers them with Django.
from apps.workflows.processes import *  # noqa: E402, F403
