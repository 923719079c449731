"""A person's model permissions (their own and their groups') are read in one query, with
Django's answers."""

from __future__ import annotations

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission

from apps.accounts.backends import PasswordSignInBackend
from apps.accounts.models import User

pytestmark = pytest.mark.django_db


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)  # no permission cache


def test_own_and_group_permissions_in_one_query(django_assert_num_queries):
    user = User.objects.create_user("perm-reader", password="x")
    user.user_permissions.add(Permission.objects.get(codename="view_humantask"))
    group = Group.objects.create(name="perm-readers")
    group.permissions.add(Permission.objects.get(codename="view_auditevent"))
    user.groups.add(group)

    reader = fresh(user)
    with django_assert_num_queries(1):  # the UNION of the person's and their groups' permissions
        assert reader.has_perm("humantasks.view_humantask")
        assert reader.has_perm("audit.view_auditevent")
        assert not reader.has_perm("humantasks.change_humantask")
    # The same set Django's own backend computes, in its two queries.
    assert PasswordSignInBackend().get_all_permissions(fresh(user)) == ModelBackend().get_all_permissions(
        fresh(user)
    )


def test_superusers_hold_every_permission_and_inactive_people_none():
    admin = User.objects.create_superuser("perm-admin", password="x")
    assert fresh(admin).has_perm("audit.view_auditevent")
    assert len(PasswordSignInBackend().get_all_permissions(fresh(admin))) == Permission.objects.count()

    gone = User.objects.create_user("perm-gone", password="x", is_active=False)
    gone.user_permissions.add(Permission.objects.get(codename="view_humantask"))
    assert not fresh(gone).has_perm("humantasks.view_humantask")
    assert PasswordSignInBackend().get_all_permissions(fresh(gone)) == set()
