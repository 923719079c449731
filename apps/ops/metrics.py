"""The Prometheus endpoint for operators: request latency, and the state of the work read
from the database at scrape time (tasks per queue and state, SLA breaches, outbox backlog
and age, automated step runs by state and dead letters), plus the instruments of
apps.core.metrics (websocket connections).

Not public: with METRICS_TOKEN set a scraper sends `Authorization: Bearer <token>`; without
it only loopback addresses are answered. docs/operations-metrics.md lists every metric.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db.models import Count, Min, Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

import apps.core.metrics  # noqa: F401  (registers the instruments other layers update)
from apps.automation.models import StepRun
from apps.humantasks.models import OPEN_STATES, HumanTask
from apps.notifications.models import OutboxMessage

REQUEST_DURATION = Histogram(
    "approval_http_request_duration_seconds",
    "Time from a request reaching Django to its response, by route.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
LOOPBACK = {"127.0.0.1", "::1"}


class RequestMetricsMiddleware:
    """Times every request; the route is the URL pattern (e.g. api/v1/tasks/<str:pk>/claim/),
    never the path, so a label has as many values as the site has pages."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        began = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None and match.route else "unmatched"
        REQUEST_DURATION.labels(request.method, route, str(response.status_code)).observe(
            time.perf_counter() - began
        )
        return response


class WorkCollector(Collector):
    """Gauges read from the database when Prometheus scrapes, five indexed queries in all."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = timezone.now()
        tasks = GaugeMetricFamily(
            "approval_human_tasks",
            "Open and claimed human tasks, by queue and state.",
            labels=["queue", "state"],
        )
        overdue = GaugeMetricFamily(
            "approval_human_tasks_overdue",
            "Open or claimed human tasks past their due time (SLA breaches), by queue.",
            labels=["queue"],
        )
        rows = (
            HumanTask.objects.filter(state__in=OPEN_STATES)
            .values("queue__slug", "state")
            .annotate(n=Count("pk"), late=Count("pk", filter=Q(due_at__lt=now)))
            .order_by()
        )
        late: dict[str, int] = {}
        for row in rows:
            tasks.add_metric([row["queue__slug"], row["state"]], row["n"])
            late[row["queue__slug"]] = late.get(row["queue__slug"], 0) + row["late"]
        for queue, count in sorted(late.items()):
            overdue.add_metric([queue], count)
        yield tasks
        yield overdue

        pending = OutboxMessage.objects.filter(dispatched_at__isnull=True, available_at__lte=now).aggregate(
            n=Count("pk"), oldest=Min("available_at")
        )
        yield GaugeMetricFamily(
            "approval_outbox_messages_pending",
            "Outbox rows due and not yet handed to the broker.",
            value=pending["n"],
        )
        oldest = pending["oldest"]
        yield GaugeMetricFamily(
            "approval_outbox_oldest_pending_age_seconds",
            "How long the oldest due outbox row has waited for the relay (0 when none waits).",
            value=(now - oldest).total_seconds() if oldest else 0.0,
        )

        runs = GaugeMetricFamily(
            "approval_step_runs",
            "Automated step runs, by state (retrying: waiting out a backoff).",
            labels=["state"],
        )
        counts = dict(StepRun.objects.values_list("state").annotate(n=Count("pk")).order_by())
        for state in StepRun.State.values:
            runs.add_metric([state], counts.get(state, 0))
        yield runs
        yield GaugeMetricFamily(
            "approval_step_run_retries_pending",
            "Failed attempts of step runs that will be tried again.",
            value=sum(
                StepRun.objects.filter(state=StepRun.State.RETRYING).values_list("attempts", flat=True)
            ),
        )
        yield GaugeMetricFamily(
            "approval_step_run_dead_letters",
            "Step runs that gave up, of processes still waiting for an operator.",
            value=StepRun.objects.filter(
                state=StepRun.State.FAILED, instance__finished_at__isnull=True
            ).count(),
        )


def _instruments() -> CollectorRegistry:
    """The registry of the instruments' values: this process's, or every process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several processes: add up what each wrote into the shared directory.
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


def _work() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkCollector())
    return registry


def scrape_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(offered.strip().encode(), token.encode())
    return request.META.get("REMOTE_ADDR", "") in LOOPBACK


def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics: the Prometheus text format, for a scraper holding METRICS_TOKEN (or on
    loopback when none is set); 404 to anyone else, as if there were nothing here."""
    if request.method != "GET" or not scrape_allowed(request):
        return HttpResponse(status=404)
    body = generate_latest(_instruments()) + generate_latest(_work())
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
