"""The production image's web processes serve the static files collected into it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from config.env import BASE_DIR, env
from tests.celery_workers import free_port, wait_for

DAPHNE = str(Path(sys.executable).with_name("daphne"))


def test_daphne_serves_collected_static_files(tmp_path: Path) -> None:
    production = {
        **env.ENVIRON,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECRET_KEY": "static-test",
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": "redis://127.0.0.1:1/0",
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=BASE_DIR,
        env=production,
        check=True,
    )
    port = free_port()
    web = subprocess.Popen(
        [DAPHNE, "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
        cwd=BASE_DIR,
        env=production,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def fetch() -> httpx.Response | None:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/static/admin/css/base.css", timeout=2)
            except httpx.TransportError:
                return None

        response = wait_for(fetch, timeout=30, interval=0.25, what="daphne to answer")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/css")
        assert "max-age" in response.headers.get("cache-control", "")
    finally:
        web.kill()
        web.wait(timeout=10)
