from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    requires_system_checks: list[str] = []
    help = (
        "Check that the apps' imports run one way, lowest layer first (core, audit and notifications, "
        "accounts, workflows, humantasks and automation, then api, inbox and ops), with import-linter's "
        "contracts in pyproject.toml. Exits non-zero when a contract is broken."
    )

    def handle(self, *args: object, **options: object) -> None:
        lint_imports = Path(sys.executable).parent / "lint-imports"
        result = subprocess.run([str(lint_imports), "--no-cache"], cwd=settings.BASE_DIR)
        sys.exit(result.returncode)
