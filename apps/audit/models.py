from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """One immutable fact: who did what, to which instance or task, when and from where.

    Events form hash chains (one per workflow instance, one per other subject such as a
    user's sign-ins): each event stores the hash of its predecessor in the chain, so an
    edit made behind the database trigger's back is found by `manage.py verify_audit`.
    """

    class ActorType(models.TextChoices):
        USER = "user", "Person"
        API_CLIENT = "api_client", "API client"
        SYSTEM = "system", "System"

    chain_key = models.CharField(max_length=80)
    seq = models.PositiveBigIntegerField()
    occurred_at = models.DateTimeField()
    # No index of its own: audit_actor_time_idx starts with this column and serves its lookups;
    # another index would only slow every write.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64)
    # No index of its own: audit_instance_idx starts with this column and serves its lookups;
    # another index would only slow every write.
    instance = models.ForeignKey(
        "workflows.WorkflowInstance",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
        db_index=False,
    )
    task = models.ForeignKey(
        "humantasks.HumanTask", null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events"
    )
    from_state = models.CharField(max_length=64, blank=True)
    to_state = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["chain_key", "seq"], name="audit_chain_seq_unique")]
        indexes = [
            models.Index(fields=["instance", "id"], name="audit_instance_idx"),
            models.Index(fields=["actor", "occurred_at"], name="audit_actor_time_idx"),
            models.Index(fields=["action", "occurred_at"], name="audit_action_time_idx"),
            models.Index(fields=["occurred_at"], name="audit_time_idx"),
            # The auditors' search, newest first by id (apps.oversight.selectors.event_search).
            models.Index(fields=["action", "id"], name="audit_action_id_idx"),
            models.Index(fields=["actor_label", "id"], name="audit_actor_label_id_idx"),
        ]
        triggers = [
            pgtrigger.Protect(name="audit_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
            # Protect refuses row operations only; TRUNCATE needs a statement-level trigger of its own.
            pgtrigger.Trigger(
                name="audit_no_truncate",
                operation=pgtrigger.Truncate,
                level=pgtrigger.Statement,
                when=pgtrigger.Before,
                func="RAISE EXCEPTION 'audit log is append-only: TRUNCATE refused'; RETURN NULL;",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} by {self.actor_label or self.actor_type}"
