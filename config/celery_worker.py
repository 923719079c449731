"""The workers' broker consumer (settings.CELERY_WORKER_CONSUMER): Celery's own, surviving the
loss of a Redis broker that holds unacknowledged jobs.

On a connection loss Celery 5.7 collects the broken connection (kombu then drops the
transport's reference to its settings) and closes it afterwards; closing a Redis channel that
still holds unacknowledged jobs (with acks_late: every running job) tries to hand them back
through that transport, and reading its settings raises
AttributeError("'NoneType' object has no attribute 'hostname'"), which Celery takes for an
"Unrecoverable error" and the worker exits. Nothing is lost either way (the jobs stay in the
broker's unacked set and come back after the visibility timeout), but the worker is gone until
something restarts it. Here the close's failure is what it is, a failure to close a connection
already broken, and the consumer goes on reconnecting as for any other connection error.
"""

from __future__ import annotations

import logging

from celery.worker.consumer import Consumer

logger = logging.getLogger(__name__)


class BrokerLossConsumer(Consumer):
    def on_connection_error_after_connected(self, exc: Exception) -> None:
        try:
            super().on_connection_error_after_connected(exc)
        except AttributeError:
            if self.connection is not None:
                raise  # not the close of the detached, broken connection: a real fault
            logger.warning("closing the lost broker connection failed; reconnecting", exc_info=True)
