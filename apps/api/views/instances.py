from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api.conditional import expected_version, with_etag
from apps.api.idempotency import idempotent
from apps.api.pagination import IdCursorPagination
from apps.api.serializers import (
    HistoryOutput,
    InstanceDetailOutput,
    InstanceListOutput,
    InstanceListQuery,
    InstanceOutput,
    InstanceStartInput,
    InstanceTransitionInput,
    PageQuery,
    TransitionAvailableListOutput,
)
from apps.api.views.common import ETAG, IDEMPOTENCY_KEY, IF_MATCH, validated
from apps.humantasks.selectors import (
    history_visible_to,
    instance_detail_for,
    instance_get_for,
    instance_list,
)
from apps.workflows.selectors import (
    InstanceFilters,
    instance_transitions_available,
    process_kind_describe,
)
from apps.workflows.services import instance_start, instance_transition

TAGS = ["instances"]


def instance_detail(request: Request, instance_id: int | str, *, status_code: int = 200) -> Response:
    """The instance with what the caller may see of its open tasks, transitions and history."""
    detail = instance_detail_for(user=request.user, instance_id=instance_id)
    return with_etag(Response(InstanceDetailOutput(detail).data, status=status_code), detail.instance.version)


class InstanceListView(APIView):
    @extend_schema(
        operation_id="instances_list", parameters=[InstanceListQuery], responses=InstanceListOutput, tags=TAGS
    )
    def get(self, request: Request) -> Response:
        """Instances the caller may read (their own, those with a task they see; auditors: all), newest
        first."""
        query = validated(InstanceListQuery, request.query_params)
        filters = InstanceFilters(
            kinds=(query["kind"],) if "kind" in query else (),
            states=(query["state"],) if "state" in query else (),
            business_key=query.get("business_key", ""),
            started_after=query.get("started_after"),
            started_before=query.get("started_before"),
        )
        paginator = IdCursorPagination()
        page = paginator.paginate_queryset(
            instance_list(user=request.user, filters=filters), request, view=self
        )
        return Response(
            {
                "results": InstanceOutput(page, many=True).data,
                "next": paginator.get_next_link(),
                "previous": paginator.get_previous_link(),
            }
        )

    @extend_schema(
        operation_id="instances_start",
        request=InstanceStartInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: OpenApiResponse(InstanceDetailOutput, "Started; Location names the new instance.")},
        tags=TAGS,
    )
    @idempotent
    def post(self, request: Request) -> Response:
        """Start a process: `data` is validated against the kind's `data_schema`."""
        body = validated(InstanceStartInput, request.data)
        instance = instance_start(
            kind=body["kind"], business_key=body["business_key"], data=body["data"], actor=request.user
        )
        response = instance_detail(request, instance.pk, status_code=201)
        response["Location"] = f"/api/v1/instances/{instance.pk}/"
        return response


class InstanceDetailView(APIView):
    @extend_schema(
        operation_id="instances_read", parameters=[ETAG], responses=InstanceDetailOutput, tags=TAGS
    )
    def get(self, request: Request, pk: str) -> Response:
        """One instance with its open tasks, the transitions the caller may fire now, and its history."""
        return instance_detail(request, pk)


class InstanceHistoryView(APIView):
    @extend_schema(
        operation_id="instances_history", parameters=[PageQuery, ETAG], responses=HistoryOutput, tags=TAGS
    )
    def get(self, request: Request, pk: str) -> Response:
        """The instance's audit events in the order they happened, a page at a time."""
        validated(PageQuery, request.query_params)
        instance = instance_get_for(user=request.user, instance_id=pk)
        paginator = IdCursorPagination(ordering="seq")
        events = paginator.paginate_queryset(
            history_visible_to(user=request.user, instance=instance), request, view=self
        )
        page = {"results": events, "next": paginator.get_next_link()}
        return with_etag(Response(HistoryOutput(page).data), instance.version)


class InstanceTransitionListView(APIView):
    @extend_schema(operation_id="instances_transitions", responses=TransitionAvailableListOutput, tags=TAGS)
    def get(self, request: Request, pk: str) -> Response:
        """The external transitions the caller may fire on this instance now."""
        instance = instance_get_for(user=request.user, instance_id=pk)
        names = set(instance_transitions_available(instance=instance, user=request.user))
        declared = process_kind_describe(type(instance))["transitions"]
        available = [t for t in declared if t["name"] in names]
        return with_etag(
            Response(TransitionAvailableListOutput({"results": available, "next": None}).data),
            instance.version,
        )


class InstanceTransitionView(APIView):
    @extend_schema(
        operation_id="instances_transition",
        request=InstanceTransitionInput,
        parameters=[IDEMPOTENCY_KEY, IF_MATCH, ETAG],
        responses=InstanceDetailOutput,
        tags=TAGS,
    )
    @idempotent
    def post(self, request: Request, pk: str, name: str) -> Response:
        """Fire an external transition (see the kind's `transitions`, `external: true`), e.g. cancel."""
        body = validated(InstanceTransitionInput, request.data)
        instance = instance_get_for(user=request.user, instance_id=pk)
        instance_transition(
            instance=instance,
            transition=name,
            actor=request.user,
            data=body["data"],
            expected_version=expected_version(request),
        )
        return instance_detail(request, pk)
