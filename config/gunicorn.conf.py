"""gunicorn's settings for the web role's HTTP: Django's WSGI application in worker processes
that each keep their database connection. Websockets are not served here: an ASGI server
(Daphne) takes /ws/ beside it (docs/adr/serving-shape.md).

    gunicorn --config config/gunicorn.conf.py            # --workers / --threads override

Every setting here can be overridden on the command line; WEB_CONCURRENCY (gunicorn's own
variable) sets the number of workers when --workers is not given.
"""

import gc
import os

wsgi_app = "config.wsgi:application"
bind = ["0.0.0.0:8000"]
# Measured on 2 cores (docs/adr/serving-shape.md): processes, not threads, carry the load;
# Python runs one thread at a time per process.
worker_class = "sync"
workers = 4
# A request that takes longer is a stuck worker: kill it and start another.
timeout = 30
graceful_timeout = 30
# Behind a load balancer that reuses connections.
keepalive = 5
# Import the application once in the master, then fork: the workers share its memory.
preload_app = True
# Recycle workers now and then, so a slow leak in any library cannot grow without bound.
max_requests = 5000
max_requests_jitter = 500
accesslog = None
# gunicorn 27's runtime control socket is one path per user (~/.gunicorn/gunicorn.ctl): two
# servers on one host would fight over it, and nothing here uses it.
control_socket_disable = True
# One connection per worker, kept between requests (config/settings.py reads it).
raw_env = ["DATABASE_CONN_MAX_AGE=60"]


def pre_fork(server, worker):
    # The imported application (modules, settings, URL patterns) lives as long as the worker:
    # moving it out of the collector's reach keeps full collections short, and keeps the
    # pages the workers share from being copied when the collector touches them.
    gc.freeze()
    # A request allocates tens of thousands of objects that reference counting frees; at the
    # default threshold (700) the collector ran dozens of times per request for little: this
    # threshold took 7 % off the CPU of a claim + complete (docs/performance.md, step 17).
    gc.set_threshold(50_000, 50, 100)


def child_exit(server, worker):
    # With several workers the metrics live in PROMETHEUS_MULTIPROC_DIR (README, metrics): a
    # worker that is gone must stop counting in the live gauges.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
