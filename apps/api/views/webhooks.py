"""Webhook endpoints: the caller's own subscriptions, their delivery log, and the actions
on them. Another user's endpoint answers 404, as anything outside the caller's reach."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api.conditional import expected_version, with_etag
from apps.api.idempotency import idempotent
from apps.api.pagination import IdCursorPagination
from apps.api.serializers import EmptyInput
from apps.api.views.common import ETAG, IDEMPOTENCY_KEY, IF_MATCH, validated
from apps.api.webhook_serializers import (
    WebhookDeliveryListOutput,
    WebhookDeliveryListQuery,
    WebhookDeliveryOutput,
    WebhookEndpointCreatedOutput,
    WebhookEndpointInput,
    WebhookEndpointListOutput,
    WebhookEndpointOutput,
    WebhookRedeliverInput,
    WebhookRedeliverOutput,
    WebhookSecretOutput,
)
from apps.webhooks.models import WebhookEndpoint
from apps.webhooks.selectors import deliveries_of, delivery_get_for, endpoint_get_for, endpoints_of
from apps.webhooks.services.endpoints import (
    deliveries_redeliver,
    delivery_redeliver,
    endpoint_create,
    endpoint_delete,
    endpoint_ping,
    endpoint_secret_rotate,
    endpoint_update,
)

TAGS = ["webhooks"]


def _endpoint_answer(endpoint: WebhookEndpoint, *, status_code: int = 200) -> Response:
    return with_etag(Response(WebhookEndpointOutput(endpoint).data, status=status_code), endpoint.version)


class WebhookEndpointListView(APIView):
    @extend_schema(
        operation_id="webhook_endpoints_list",
        parameters=[WebhookDeliveryListQuery.__base__],
        responses=WebhookEndpointListOutput,
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        """The caller's webhook endpoints, newest first."""
        validated(WebhookDeliveryListQuery.__base__, request.query_params)
        paginator = IdCursorPagination()
        page = paginator.paginate_queryset(endpoints_of(user=request.user), request, view=self)
        return Response(
            {
                "results": WebhookEndpointOutput(page, many=True).data,
                "next": paginator.get_next_link(),
                "previous": paginator.get_previous_link(),
            }
        )

    @extend_schema(
        operation_id="webhook_endpoints_create",
        request=WebhookEndpointInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: OpenApiResponse(WebhookEndpointCreatedOutput, "Created; the secret is shown this once.")
        },
        tags=TAGS,
    )
    @idempotent(sealed=("secret",))
    def post(self, request: Request) -> Response:
        """Subscribe a URL to event types; the caller owns it and it hears only of what they may see."""
        body = validated(WebhookEndpointInput, request.data)
        endpoint, secret = endpoint_create(owner=request.user, actor=request.user, **body)
        answer = with_etag(
            Response({**WebhookEndpointOutput(endpoint).data, "secret": secret}, status=201), endpoint.version
        )
        answer["Location"] = f"/api/v1/webhook-endpoints/{endpoint.pk}/"
        return answer


class WebhookEndpointDetailView(APIView):
    @extend_schema(
        operation_id="webhook_endpoints_read", parameters=[ETAG], responses=WebhookEndpointOutput, tags=TAGS
    )
    def get(self, request: Request, pk: str) -> Response:
        """One of the caller's endpoints (never its secret)."""
        return _endpoint_answer(endpoint_get_for(user=request.user, endpoint_id=pk))

    @extend_schema(
        operation_id="webhook_endpoints_update",
        request=WebhookEndpointInput(partial=True),
        parameters=[IF_MATCH, ETAG],
        responses=WebhookEndpointOutput,
        tags=TAGS,
    )
    def patch(self, request: Request, pk: str) -> Response:
        """Change some fields. Enabling a disabled endpoint sends what it missed."""
        endpoint = endpoint_get_for(user=request.user, endpoint_id=pk)
        serializer = WebhookEndpointInput(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changed = endpoint_update(
            endpoint=endpoint,
            actor=request.user,
            expected_version=expected_version(request),
            **{
                name: serializer.validated_data[name]
                for name in request.data
                if name in serializer.validated_data
            },
        )
        return _endpoint_answer(changed)

    @extend_schema(
        operation_id="webhook_endpoints_delete",
        parameters=[IF_MATCH],
        responses={204: OpenApiResponse(description="Deleted, with its delivery log.")},
        tags=TAGS,
    )
    def delete(self, request: Request, pk: str) -> Response:
        """Delete the endpoint; nothing more is sent to it."""
        endpoint = endpoint_get_for(user=request.user, endpoint_id=pk)
        endpoint_delete(endpoint=endpoint, actor=request.user, expected_version=expected_version(request))
        return Response(status=204)


class WebhookSecretRotateView(APIView):
    @extend_schema(
        operation_id="webhook_endpoints_rotate_secret",
        request=EmptyInput,
        parameters=[IDEMPOTENCY_KEY, IF_MATCH, ETAG],
        responses=WebhookSecretOutput,
        tags=TAGS,
    )
    @idempotent(sealed=("secret",))
    def post(self, request: Request, pk: str) -> Response:
        """A new secret, shown this once; the previous one keeps signing too until
        `previous_secret_valid_until` (WEBHOOKS_SECRET_OVERLAP_HOURS)."""
        validated(EmptyInput, request.data)
        endpoint = endpoint_get_for(user=request.user, endpoint_id=pk)
        rotated, secret = endpoint_secret_rotate(
            endpoint=endpoint, actor=request.user, expected_version=expected_version(request)
        )
        data = WebhookSecretOutput(
            {
                "secret": secret,
                **{f: getattr(rotated, f) for f in ("id", "version", "previous_secret_expires_at")},
            }
        ).data
        return with_etag(Response(data), rotated.version)


class WebhookPingView(APIView):
    @extend_schema(
        operation_id="webhook_endpoints_ping",
        request=EmptyInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={202: OpenApiResponse(WebhookDeliveryOutput, "A `webhook.ping` delivery is on its way.")},
        tags=TAGS,
    )
    @idempotent
    def post(self, request: Request, pk: str) -> Response:
        """Send a signed `webhook.ping` event now, to check the receiver end to end."""
        validated(EmptyInput, request.data)
        endpoint = endpoint_get_for(user=request.user, endpoint_id=pk)
        delivery = endpoint_ping(endpoint=endpoint, actor=request.user)
        return Response(
            WebhookDeliveryOutput(delivery_get_for(endpoint=endpoint, delivery_id=delivery.pk)).data,
            status=202,
        )


class WebhookDeliveryListView(APIView):
    @extend_schema(
        operation_id="webhook_deliveries_list",
        parameters=[WebhookDeliveryListQuery],
        responses=WebhookDeliveryListOutput,
        tags=TAGS,
    )
    def get(self, request: Request, pk: str) -> Response:
        """The endpoint's delivery log, newest first, each with its attempts."""
        query = validated(WebhookDeliveryListQuery, request.query_params)
        endpoint = endpoint_get_for(user=request.user, endpoint_id=pk)
        deliveries = deliveries_of(endpoint=endpoint)
        if "state" in query:
            deliveries = deliveries.filter(state=query["state"])
        if "created_after" in query:
            deliveries = deliveries.filter(created_at__gte=query["created_after"])
        if "created_before" in query:
            deliveries = deliveries.filter(created_at__lt=query["created_before"])
        paginator = IdCursorPagination()
        page = paginator.paginate_queryset(deliveries, request, view=self)
        return Response(
            {
                "results": WebhookDeliveryOutput(page, many=True).data,
                "next": paginator.get_next_link(),
                "previous": paginator.get_previous_link(),
            }
        )


class WebhookDeliveryDetailView(APIView):
    @extend_schema(operation_id="webhook_deliveries_read", responses=WebhookDeliveryOutput, tags=TAGS)
    def get(self, request: Request, pk: str, delivery: str) -> Response:
        """One delivery with every attempt made."""
        endpoint = endpoint_get_for(user=request.user, endpoint_id=pk)
        return Response(WebhookDeliveryOutput(delivery_get_for(endpoint=endpoint, delivery_id=delivery)).data)


class WebhookDeliveryRedeliverView(APIView):
    @extend_schema(
        operation_id="webhook_deliveries_redeliver",
        request=EmptyInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={202: OpenApiResponse(WebhookDeliveryOutput, "Back in line, with the same webhook-id.")},
        tags=TAGS,
    )
    @idempotent
    def post(self, request: Request, pk: str, delivery: str) -> Response:
        """Send this delivery again (same `webhook-id`), with a fresh retry schedule."""
        validated(EmptyInput, request.data)
        endpoint = endpoint_get_for(user=request.user, endpoint_id=pk)
        again = delivery_redeliver(
            delivery=delivery_get_for(endpoint=endpoint, delivery_id=delivery), actor=request.user
        )
        return Response(
            WebhookDeliveryOutput(delivery_get_for(endpoint=endpoint, delivery_id=again.pk)).data, status=202
        )


class WebhookRedeliverRangeView(APIView):
    @extend_schema(
        operation_id="webhook_endpoints_redeliver",
        request=WebhookRedeliverInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={202: WebhookRedeliverOutput},
        tags=TAGS,
    )
    @idempotent
    def post(self, request: Request, pk: str) -> Response:
        """Send again the endpoint's deliveries created in a time range (by default only those given up)."""
        body = validated(WebhookRedeliverInput, request.data)
        endpoint = endpoint_get_for(user=request.user, endpoint_id=pk)
        again = deliveries_redeliver(endpoint=endpoint, actor=request.user, **body)
        return Response({"count": len(again)}, status=202)
