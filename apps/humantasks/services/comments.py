"""Comments and attachments on a process instance: written by people who may see the
instance, audited in its chain (so they appear in its history), and announced through the
outbox to the people a comment mentions.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.module_loading import import_string

from apps.audit.services import audit_record
from apps.core.errors import InvalidInput, NotFound, NotPermitted
from apps.humantasks.models import InstanceAttachment, InstanceComment
from apps.humantasks.selectors import instances_taken_part_in, instances_visible_to
from apps.notifications.services import outbox_put
from apps.workflows.services import instance_lock
from apps.workflows.validation import text_is_storable

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.workflows.models import WorkflowInstance

MAX_COMMENT_BODY = 5000
MAX_MENTIONS = 20
MENTIONED_TOPIC = "comment.mentioned"
# @username, as Django's username validator allows it, not inside an e-mail address.
MENTION = re.compile(r"(?<![\w.@+-])@([\w.@+-]{1,150})")


def scan_nothing(file: UploadedFile) -> str | None:
    """The default ATTACHMENT_SCANNER: accepts every file. Set ATTACHMENT_SCANNER to a
    callable(file) -> str | None that returns why a file is refused (e.g. a ClamAV verdict)."""
    return None


def _refuse_unless_taking_part(*, instance_id: int, actor: User) -> None:
    if instances_taken_part_in(user=actor, instance_id=instance_id).exists():
        return
    if instances_visible_to(user=actor, instance_id=instance_id).exists():
        raise NotPermitted("Auditors read a process's notes but do not add to them.")
    raise NotFound("No such process instance.")


def _lock_visible(*, instance_id: int, actor: User) -> WorkflowInstance:
    _refuse_unless_taking_part(instance_id=instance_id, actor=actor)
    instance = instance_lock(instance_id=instance_id)
    if instance is None:
        raise NotFound("No such process instance.")
    return instance


def mentions_in(body: str) -> list[str]:
    """The usernames a text names with @, first mention first, each once."""
    return list(dict.fromkeys(MENTION.findall(body)))[:MAX_MENTIONS]


def comment_add(*, instance_id: int, actor: User, body: str) -> InstanceComment:
    """Add a comment to an instance `actor` may see. People it @mentions who may see the
    instance too are recorded and notified (topic comment.mentioned, to their own groups);
    a mention of anyone else is left as plain text, telling the author nothing about them."""
    if not isinstance(body, str) or not text_is_storable(body):
        raise InvalidInput(
            "The comment contains characters that cannot be stored.", errors={"body": ["Invalid."]}
        )
    body = body.strip()
    if not body:
        raise InvalidInput("Write a comment first.", errors={"body": ["This field is required."]})
    if len(body) > MAX_COMMENT_BODY:
        raise InvalidInput(
            f"The comment is too long (at most {MAX_COMMENT_BODY} characters).",
            errors={"body": [f"At most {MAX_COMMENT_BODY} characters."]},
        )
    with transaction.atomic():
        instance = _lock_visible(instance_id=instance_id, actor=actor)
        named = (
            get_user_model()
            .objects.filter(username__in=mentions_in(body), is_active=True)
            .exclude(pk=actor.pk)
        )
        mentioned = [
            person for person in named if instances_visible_to(user=person, instance_id=instance.pk).exists()
        ]
        comment = InstanceComment.objects.create(instance=instance, author=actor, body=body)
        comment.mentioned.set(mentioned)
        audit_record(
            action="comment.added",
            actor=actor,
            instance=instance,
            data={
                "comment_id": comment.pk,
                "comment": body,
                "mentioned": sorted(person.get_username() for person in mentioned),
            },
        )
        if mentioned:
            outbox_put(
                topic=MENTIONED_TOPIC,
                instance=instance,
                payload={
                    "comment_id": comment.pk,
                    "instance_id": instance.pk,
                    "business_key": instance.business_key,
                    "author": actor.get_username(),
                    "excerpt": body[:200],
                    "notify_groups": [f"user-{person.pk}" for person in mentioned],
                },
            )
    return comment


def attachment_add(*, instance_id: int, actor: User, file: UploadedFile) -> InstanceAttachment:
    """Attach a file to an instance `actor` may see, within ATTACHMENT_MAX_BYTES and
    ATTACHMENT_CONTENT_TYPES, once ATTACHMENT_SCANNER accepts it. The file is stored
    through Django's default storage only after every check passed."""
    _refuse_unless_taking_part(instance_id=instance_id, actor=actor)
    if file.size is None or file.size == 0:
        raise InvalidInput("The file is empty.", errors={"file": ["The file is empty."]})
    limit = settings.ATTACHMENT_MAX_BYTES
    if file.size > limit:
        raise InvalidInput(
            f"The file is too large (at most {limit // (1024 * 1024) or limit} "
            f"{'MB' if limit >= 1024 * 1024 else 'bytes'}).",
            errors={"file": ["Too large."]},
        )
    content_type = (file.content_type or "").split(";")[0].strip().lower()
    if content_type not in settings.ATTACHMENT_CONTENT_TYPES:
        raise InvalidInput(
            "Files of this type cannot be attached. Allowed: "
            + ", ".join(settings.ATTACHMENT_CONTENT_TYPES)
            + ".",
            errors={"file": ["Type not allowed."]},
        )
    name = (file.name or "attachment").replace("\\", "/").rsplit("/", 1)[-1][:255]
    if not text_is_storable(name):
        raise InvalidInput("The file's name cannot be stored.", errors={"file": ["Rename the file."]})
    # The scan runs outside any transaction: a slow scanner must not hold the instance's lock.
    refusal = import_string(settings.ATTACHMENT_SCANNER)(file)
    if refusal:
        raise InvalidInput(f"The file was refused by the virus scan: {refusal}", errors={"file": [refusal]})
    file.seek(0)
    with transaction.atomic():
        instance = _lock_visible(instance_id=instance_id, actor=actor)
        attachment = InstanceAttachment(
            instance=instance, uploaded_by=actor, name=name, content_type=content_type, size=file.size
        )
        attachment.file.save(name, file, save=False)
        try:
            attachment.save()
            audit_record(
                action="attachment.added",
                actor=actor,
                instance=instance,
                data={"attachment_id": attachment.pk, "name": name, "size": file.size, "type": content_type},
            )
        except Exception:
            attachment.file.delete(save=False)
            raise
    return attachment
