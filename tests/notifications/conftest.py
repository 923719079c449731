from tests.celery_workers import own_redis, publishing_to, workers  # noqa: F401 (fixtures)
