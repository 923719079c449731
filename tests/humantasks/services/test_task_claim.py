"""task_claim and task_unclaim: one holder at a time; the holder or a manager puts it back."""

from __future__ import annotations

import pytest

from apps.core.errors import NotPermitted, TaskClosed, TaskConflict
from apps.humantasks.selectors import InboxFilters, inbox_for
from apps.humantasks.services import task_claim, task_unclaim
from tests.db_state import writes_nothing
from tests.process_steps import decide, open_task

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_claim_assigns_the_task_and_shows_it_as_claimed(people, order):
    task = task_claim(task=open_task(order), actor=people["lead"])

    assert (task.state, task.assignee, task.version) == ("claimed", people["lead"], 2)
    assert task.claimed_at is not None
    mine = inbox_for(user=people["lead2"], filters=InboxFilters(assignee_id=people["lead"].pk)).tasks
    assert [t.pk for t in mine] == [task.pk]


@pytest.mark.parametrize(("who", "message"), [("lead", "by you"), ("lead2", "by someone else")])
def test_claimed_task_cannot_be_claimed_again(people, order, who, message):
    task = task_claim(task=open_task(order), actor=people["lead"])

    with writes_nothing(order, task), pytest.raises(TaskConflict, match=message):
        task_claim(task=task, actor=people[who])


def test_closed_task_cannot_be_claimed(people, order):
    task = decide(open_task(order), people["lead"])

    with writes_nothing(order, task), pytest.raises(TaskClosed):
        task_claim(task=task, actor=people["lead2"])


@pytest.mark.parametrize("who", ["lead", "manager"])
def test_holder_or_manager_puts_a_claimed_task_back(people, order, who):
    task = task_claim(task=open_task(order), actor=people["lead"])

    released = task_unclaim(task=task, actor=people[who])

    assert (released.state, released.assignee, released.claimed_at) == ("open", None, None)
    task_claim(task=released, actor=people["lead2"])


def test_colleague_cannot_put_back_someone_elses_task(people, order):
    task = task_claim(task=open_task(order), actor=people["lead"])

    with writes_nothing(order, task), pytest.raises(NotPermitted):
        task_unclaim(task=task, actor=people["lead2"])


def test_unclaiming_an_open_task_is_a_conflict(people, order):
    task = open_task(order)

    with writes_nothing(order, task), pytest.raises(TaskConflict, match="not claimed"):
        task_unclaim(task=task, actor=people["lead"])
