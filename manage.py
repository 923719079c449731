#!/usr/bin/env python3
"""Django's command-line utility; on a fresh machine it first installs what it needs (config/bootstrap.py)."""

import os
import sys

from config.bootstrap import apply_embedded_defaults, ensure_virtualenv


def main() -> None:
    ensure_virtualenv(sys.argv)
    apply_embedded_defaults(sys.argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
