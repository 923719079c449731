from tests.celery_workers import own_redis, publishing_to, workers  # noqa: F401 (fixtures)
from tests.webhooks.receiver import receiver  # noqa: F401 (a fixture)
