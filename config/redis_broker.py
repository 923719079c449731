"""kombu's Redis transport (settings.CELERY_BROKER_TRANSPORT for redis:// brokers), except that a
connection Celery has already given up as lost says so as a connection error.

On a connection loss Celery 5.7 collects the broken connection, which drops the transport's
reference to its settings, and then closes it; and a job finishing on a pool process acks
through it later. Either one reaches kombu's Redis channel for a new client, whose settings
read `None.hostname`: AttributeError("'NoneType' object has no attribute 'hostname'"), which
Celery cannot tell from a bug, calls an "Unrecoverable error", and the worker exits. As a
connection error instead, the close is ignored and the ack logged as failed, as for any
connection that broke, and the worker reconnects. Nothing is lost either way: unacknowledged
jobs stay in the broker and come back after the visibility timeout.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class RedisChannel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:
            raise RedisConnectionError("this broker connection was closed after it was lost")
        return super()._connparams(asynchronous=asynchronous)


class RedisTransport(kombu_redis.Transport):
    Channel = RedisChannel
