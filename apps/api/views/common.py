"""What every API view shares: input parsing, the audit-permission check, schema helpers."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter
from rest_framework import permissions, serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.views import APIView


def validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class HasAuditAccess(permissions.BasePermission):
    """Auditors: the global permission to read audit events."""

    message = "Reading the audit log needs the auditors' permission."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(
            request.user and request.user.is_authenticated and request.user.has_perm("audit.view_auditevent")
        )


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Any unique string (e.g. a UUID): a retry with the same key returns the first answer and "
    "does "
    "nothing twice; the same key with a different body is a 422.",
)
IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description='The ETag (version) you read, e.g. "3": the write is refused with 412 if the object changed.',
)
ETAG = OpenApiParameter(
    "ETag", str, OpenApiParameter.HEADER, response=True, description="The object's version, for If-Match."
)


class NoSuchEndpointView(APIView):
    """Every method on a path the API does not have: a 404 problem, whoever asks."""

    permission_classes = [permissions.AllowAny]
    schema = None  # not part of the contract

    def http_method_not_allowed(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        raise NotFound("No such endpoint. Paths end with a slash, e.g. /api/v1/tasks/.")

    options = http_method_not_allowed
