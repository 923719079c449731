from apps.workflows.errors import DomainError, NotFound, NotPermitted

__all__ = ["NotFound", "NotPermitted", "TaskConflict", "TaskClosed", "InvalidDecision", "DecisionRefused"]


class TaskConflict(DomainError):
    """Someone else holds or has just taken the task."""

    code = "task-conflict"
    kind = "conflict"


class TaskClosed(DomainError):
    code = "task-closed"
    kind = "conflict"


class InvalidDecision(DomainError):
    code = "invalid-decision"
    kind = "invalid"


class DecisionRefused(DomainError):
    """The step's decision policy (four-eyes, separation of duties, requester-only) says no."""

    code = "decision-policy"
    kind = "forbidden"
