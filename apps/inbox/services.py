"""Writes to saved inbox views: only their owner changes them; sharing is with the team of a
queue the owner works in. Each write is audited under the owner's chain."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction

from apps.audit.services import audit_record
from apps.core.errors import InvalidInput, NotFound, NotPermitted
from apps.humantasks.models import Queue
from apps.humantasks.selectors import queues_workable_by
from apps.inbox.models import SavedView, SavedViewDefault
from apps.inbox.selectors import saved_views_for

if TYPE_CHECKING:
    from apps.accounts.models import User

SAVED_FILTER_KEYS = ("queue", "state", "q", "sort")


def _clean(*, owner: User, name: str, filters: dict[str, Any], shared_with: Queue | None) -> tuple[str, dict]:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("Give the view a name.", errors={"name": ["This field is required."]})
    if len(name) > 80:
        raise InvalidInput("The name is too long.", errors={"name": ["At most 80 characters."]})
    clean = {key: str(filters[key]) for key in SAVED_FILTER_KEYS if filters.get(key)}
    if shared_with is not None and not queues_workable_by(user=owner).filter(pk=shared_with.pk).exists():
        raise NotPermitted(
            "You can share a view only with the team of a queue you work in.",
            errors={"shared_with": ["Not one of your queues."]},
        )
    return name, clean


def _audit(*, action: str, view: SavedView, actor: User) -> None:
    audit_record(
        action=action,
        actor=actor,
        chain_key=f"user:{view.owner_id}",
        data={
            "view_id": view.pk,
            "name": view.name,
            "filters": view.filters,
            "shared_with": view.shared_with.slug if view.shared_with else None,
        },
    )


def saved_view_create(
    *, owner: User, name: str, filters: dict[str, Any], shared_with: Queue | None = None
) -> SavedView:
    name, clean = _clean(owner=owner, name=name, filters=filters, shared_with=shared_with)
    try:
        with transaction.atomic():
            view = SavedView.objects.create(owner=owner, name=name, filters=clean, shared_with=shared_with)
            _audit(action="saved_view.created", view=view, actor=owner)
    except IntegrityError:
        message = f"You already have a view named “{name}”."
        raise InvalidInput(message, errors={"name": [message]}) from None
    return view


def _own(*, view_id: int, actor: User) -> SavedView:
    view = SavedView.objects.select_for_update().filter(pk=view_id).first()
    if view is None or not saved_views_for(user=actor).filter(pk=view.pk).exists():
        raise NotFound("No such saved view.")
    if view.owner_id != actor.pk:
        raise NotPermitted("Only the person who saved this view can change it.")
    return view


def saved_view_update(
    *, view_id: int, actor: User, name: str, filters: dict[str, Any], shared_with: Queue | None
) -> SavedView:
    name, clean = _clean(owner=actor, name=name, filters=filters, shared_with=shared_with)
    try:
        with transaction.atomic():
            view = _own(view_id=view_id, actor=actor)
            view.name, view.filters, view.shared_with = name, clean, shared_with
            view.save()
            if shared_with is None:
                # Teammates who made it their default lose it with the sharing.
                SavedViewDefault.objects.filter(view=view).exclude(user=actor).delete()
            _audit(action="saved_view.updated", view=view, actor=actor)
    except IntegrityError:
        message = f"You already have a view named “{name}”."
        raise InvalidInput(message, errors={"name": [message]}) from None
    return view


def saved_view_delete(*, view_id: int, actor: User) -> None:
    with transaction.atomic():
        view = _own(view_id=view_id, actor=actor)
        _audit(action="saved_view.deleted", view=view, actor=actor)
        view.delete()


def saved_view_default_set(*, user: User, view_id: int | None) -> SavedViewDefault | None:
    """Make a view `user` may use their inbox's default; None goes back to no default."""
    with transaction.atomic():
        if view_id is None:
            SavedViewDefault.objects.filter(user=user).delete()
            return None
        view = saved_views_for(user=user).filter(pk=view_id).first()
        if view is None:
            raise NotFound("No such saved view.")
        default, _created = SavedViewDefault.objects.update_or_create(user=user, defaults={"view": view})
        return default
