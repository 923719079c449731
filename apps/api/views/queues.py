from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api.serializers import QueueListOutput
from apps.humantasks.selectors import queue_counts_for


class QueueListView(APIView):
    @extend_schema(operation_id="queues_list", responses=QueueListOutput, tags=["queues"])
    def get(self, request: Request) -> Response:
        """The queues the caller works or manages, with their open, claimed and overdue task counts."""
        return Response(QueueListOutput({"results": queue_counts_for(user=request.user), "next": None}).data)
