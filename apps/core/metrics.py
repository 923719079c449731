"""Instruments that code in any layer updates, exported by apps.ops.metrics at /metrics.

prometheus_client keeps them per process, or, with PROMETHEUS_MULTIPROC_DIR set (several
web or worker processes), in files of that directory that the scrape adds up; see
docs/operations-metrics.md. Names follow Prometheus' conventions: the `approval_` prefix,
base units, `_total` for counters.
"""

from __future__ import annotations

from prometheus_client import Gauge

# "livesum": the scrape adds up the live processes' values and drops those of dead ones.
WEBSOCKET_CONNECTIONS = Gauge(
    "approval_websocket_connections",
    "Open websocket connections to the live inbox, over every web process.",
    multiprocess_mode="livesum",
)


def websocket_connected() -> None:
    """Call when a websocket consumer accepts a connection."""
    WEBSOCKET_CONNECTIONS.inc()


def websocket_disconnected() -> None:
    """Call when an accepted websocket connection closes (once per websocket_connected)."""
    WEBSOCKET_CONNECTIONS.dec()
