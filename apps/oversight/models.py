from __future__ import annotations

from django.conf import settings
from django.db import models


class ChainVerification(models.Model):
    """One run of the audit hash-chain check requested from the auditors' page.

    The background job writes its progress here as it walks the log, so the page can poll
    it; the outcome is also recorded as an audit event of its own (`audit.chain_verified`).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting for a worker"
        RUNNING = "running", "Running"
        PASSED = "passed", "Verified"
        BROKEN = "broken", "Broken chain found"
        FAILED = "failed", "Could not finish"

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # How many events the log held when the run started, and how many it has checked so far.
    total = models.PositiveBigIntegerField(default=0)
    checked = models.PositiveBigIntegerField(default=0)
    # The newest event when the run started: "verified up to event N at time T".
    newest_event_id = models.BigIntegerField(null=True, blank=True)
    newest_event_at = models.DateTimeField(null=True, blank=True)
    broken_event_id = models.BigIntegerField(null=True, blank=True)
    broken_chain_key = models.CharField(max_length=80, blank=True)
    broken_seq = models.PositiveBigIntegerField(null=True, blank=True)
    broken_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"verification #{self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.PASSED, self.Status.BROKEN, self.Status.FAILED)

    @property
    def percent(self) -> int:
        if self.is_finished:
            return 100
        return min(99, int(self.checked * 100 / self.total)) if self.total else 0

    @property
    def broken_instance_id(self) -> int | None:
        """The process whose chain broke, when it is a process's chain (`instance:<id>`)."""
        kind, _, key = self.broken_chain_key.partition(":")
        return int(key) if kind == "instance" and key.isdigit() else None
