"""The layers contract (pyproject.toml, docs/adr/engine-reactions-and-layers.md) holds on the
tree, and it bites: a wrong-way import in a copy of the tree fails it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from apps.automation.services import step_runs_schedule
from apps.humantasks.services.reactions import tasks_sync_with_instance
from apps.workflows.reactions import reactions

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "apps", tmp_path / "apps", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract(tree_copy: Path) -> None:
    result = _lint(tree_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_engine_importing_a_reaction_breaks_the_layers(tree_copy: Path) -> None:
    selectors = tree_copy / "apps" / "workflows" / "selectors.py"
    selectors.write_text(selectors.read_text() + "\nfrom apps.humantasks.selectors import tasks_visible_to\n")
    result = _lint(tree_copy)
    assert result.returncode != 0
    assert "apps.workflows is not allowed to import apps.humantasks" in result.stdout


def test_an_import_inside_a_function_counts_too(tree_copy: Path) -> None:
    tasks = tree_copy / "apps" / "humantasks" / "services" / "tasks.py"
    tasks.write_text(tasks.read_text() + "\n\ndef _sneaky():\n    from apps.automation import services\n")
    result = _lint(tree_copy)
    assert result.returncode != 0
    assert "apps.humantasks is not allowed to import apps.automation" in result.stdout


def test_reactions_run_tasks_first_then_automated_steps() -> None:
    assert reactions() == [tasks_sync_with_instance, step_runs_schedule]
