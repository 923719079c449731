"""`manage.py test` spreads the suite over the cores unless told otherwise."""

from apps.ops.management.commands.test import pytest_command


def test_several_workers_take_a_test_file_each():
    command = pytest_command("not slow", 2, [])
    assert command[1:] == ["-m", "pytest", "-m", "not slow", "-n", "2", "--dist", "loadfile"]


def test_one_worker_runs_in_the_one_process_without_xdist():
    assert pytest_command("", 1, ["-x"])[3:] == ["-p", "no:xdist", "-x"]


def test_a_worker_count_given_to_pytest_wins():
    assert pytest_command("slow", 4, ["-n", "3"])[3:] == ["-m", "slow", "-n", "3"]
    assert pytest_command("slow", 4, ["--numprocesses=3"])[3:] == ["-m", "slow", "--numprocesses=3"]
