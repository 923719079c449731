from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api.pagination import IdCursorPagination
from apps.api.serializers import AuditEventListOutput, AuditEventOutput, AuditEventQuery, AuditExportQuery
from apps.api.views.common import HasAuditAccess, validated
from apps.audit.selectors import (
    AuditFilters,
    audit_event_list,
    audit_events_as_csv,
    audit_events_as_json_lines,
)
from apps.core.streaming import lines_streamed

TAGS = ["audit"]


def _filters(query: dict[str, Any]) -> AuditFilters:
    return AuditFilters(
        instance_id=query.get("instance"),
        task_id=query.get("task"),
        actor=query.get("actor", ""),
        actor_type=query.get("actor_type", ""),
        actions=(query["action"],) if "action" in query else (),
        occurred_after=query.get("occurred_after"),
        occurred_before=query.get("occurred_before"),
    )


class AuditEventListView(APIView):
    permission_classes = [HasAuditAccess]

    @extend_schema(
        operation_id="audit_events_list",
        parameters=[AuditEventQuery],
        responses=AuditEventListOutput,
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        """Audit events, oldest first (auditors only)."""
        query = validated(AuditEventQuery, request.query_params)
        paginator = IdCursorPagination(ordering="id")
        events = audit_event_list(user=request.user, filters=_filters(query))
        page = paginator.paginate_queryset(events, request, view=self)
        return Response(
            {
                "results": AuditEventOutput(page, many=True).data,
                "next": paginator.get_next_link(),
                "previous": paginator.get_previous_link(),
            }
        )


class AuditEventExportView(APIView):
    permission_classes = [HasAuditAccess]

    @extend_schema(
        operation_id="audit_events_export",
        parameters=[AuditExportQuery],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, "CSV with a header row."),
            (200, "application/jsonl"): OpenApiResponse(OpenApiTypes.STR, "One JSON object per line."),
        },
        tags=TAGS,
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        """Every matching event, streamed as CSV or JSON lines (auditors only)."""
        query = validated(AuditExportQuery, request.query_params)
        events = audit_event_list(user=request.user, filters=_filters(query))
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        if query["format"] == "csv":
            response = StreamingHttpResponse(
                lines_streamed(request._request, audit_events_as_csv(events)),
                content_type="text/csv; charset=utf-8",
            )
            extension = "csv"
        else:
            response = StreamingHttpResponse(
                lines_streamed(request._request, audit_events_as_json_lines(events)),
                content_type="application/jsonl",
            )
            extension = "jsonl"
        response["Content-Disposition"] = f'attachment; filename="audit-events-{stamp}.{extension}"'
        return response
