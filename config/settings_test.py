"""Test settings: PostgreSQL on loopback unless TEST_DATABASE_URL says otherwise.

The test runner (`python3 manage.py test`, see apps/ops/management/commands/test.py)
checks PostgreSQL and Redis before pytest starts and fails loudly under CI=true.
"""

from config.env import env
from config.settings import *  # noqa: F403

DATABASES = {
    "default": env.db("TEST_DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/approval_inbox")
}
database_statements_prepared(DATABASES["default"])  # noqa: F405
TEST_REDIS_URL = env.str("TEST_REDIS_URL", default="redis://127.0.0.1:6379/15")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
# In memory in the test process, unless a test's server processes share a real Redis (tests/live).
if not env.str("CHANNEL_LAYER_REDIS_URL", default=""):
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
LIVE_REDIS_URL = env.str("LIVE_REDIS_URL", default="")
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
# Jobs run in the process that enqueues them, so `django_capture_on_commit_callbacks(execute=True)`
# sees automated steps finish; the real-worker tests start workers with this turned off.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
# Rate-limit windows stay in the test process unless a test's servers are given a Redis of their own.
RATE_LIMIT_REDIS_URL = env.str("RATE_LIMIT_REDIS_URL", default="")
# Webhook receivers in the tests are real servers on loopback, over plain http.
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", default=True)
WEBHOOKS_ALLOW_HTTP = True
# The on-commit relay runs in the test's own thread, so `django_capture_on_commit_callbacks(execute=True)`
# sees events delivered; the background relay thread has tests of its own (tests/notifications).
OUTBOX_RELAY_NUDGE = env.str("OUTBOX_RELAY_NUDGE", default="inline")
