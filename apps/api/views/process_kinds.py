from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api.serializers import ProcessKindListOutput, ProcessKindOutput
from apps.workflows.selectors import process_kind_described, process_kinds_described


class ProcessKindListView(APIView):
    @extend_schema(operation_id="process_kinds_list", responses=ProcessKindListOutput, tags=["process kinds"])
    def get(self, request: Request) -> Response:
        """Every process kind with its data schema, states, transitions and human steps."""
        kinds = process_kinds_described()
        return Response(ProcessKindListOutput({"results": kinds, "next": None}).data)


class ProcessKindDetailView(APIView):
    @extend_schema(operation_id="process_kinds_read", responses=ProcessKindOutput, tags=["process kinds"])
    def get(self, request: Request, name: str) -> Response:
        return Response(ProcessKindOutput(process_kind_described(name=name)).data)
