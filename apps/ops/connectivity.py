"""Is a PostgreSQL or Redis server answering? Used before tests run and by health checks."""

from __future__ import annotations

import psycopg
import redis


def postgres_server_problem(url: str) -> str | None:
    """Why the server at `url` does not answer, or None. Connects to its `postgres` database,
    since the one named in the URL may not exist yet (tests create their own)."""
    try:
        with psycopg.connect(_libpq_url(url), dbname="postgres", connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as error:
        return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return None


def redis_problem(url: str) -> str | None:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except redis.RedisError as error:
        return str(error) or type(error).__name__
    return None


def _libpq_url(url: str) -> str:
    # django-environ accepts postgres://, postgresql://, pgsql://; libpq wants the first two.
    for alias in ("pgsql://", "psql://"):
        if url.startswith(alias):
            return "postgresql://" + url[len(alias) :]
    return url.split("?", 1)[0] if "://" in url else url
