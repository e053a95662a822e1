"""Content changes start their translations: a request's session collects, at each flush, the
translatable rows it created, changed (a translatable field only) or deleted; `get_db` hands
them to `start_translations` after its commit, which tells each (entity, locale)'s
TranslationWorkflow (signal-with-start), so the workflow reads committed text. A start that
fails (Temporal down) is logged, never the request's failure: the hourly sweep finds what it
left behind."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session
from temporalio.client import Client

from activities.translate import TranslationTarget
from domain.translation import TRANSLATABLE, fields_of
from runtime.logging import log
from workflows.translation import source_changed

# session.info key: the (entity_type, entity_id) pairs a request's flushes touched.
CHANGES_KEY = "translatable_changes"


@event.listens_for(Session, "after_flush")
def _collect_changes(session: Session, _: Any) -> None:
    """Only sessions that asked (the API's request sessions) collect."""
    pending: set[tuple[str, uuid.UUID]] | None = session.info.get(CHANGES_KEY)
    if pending is None:
        return
    for obj in (*session.new, *session.deleted):
        entity_type = getattr(obj, "__tablename__", None)
        if entity_type in TRANSLATABLE:
            pending.add((entity_type, obj.id))
    for obj in session.dirty:
        entity_type = getattr(obj, "__tablename__", None)
        if entity_type not in TRANSLATABLE:
            continue
        state = inspect(obj)
        if any(state.attrs[name].history.has_changes() for name in fields_of(entity_type)):
            pending.add((entity_type, obj.id))


def targets_of(
    changes: Iterable[tuple[str, uuid.UUID]], locales: Sequence[str]
) -> list[TranslationTarget]:
    return [
        TranslationTarget(entity_type=entity_type, entity_id=entity_id, locale=locale)
        for entity_type, entity_id in sorted(changes, key=lambda c: (c[0], str(c[1])))
        for locale in locales
    ]


async def tell(client: Client, task_queue: str, targets: Sequence[TranslationTarget]) -> int:
    """Signal-with-start each target's workflow; how many this started (not already running)."""
    started = await asyncio.gather(*(source_changed(client, task_queue, t) for t in targets))
    return sum(1 for s in started if s)


async def start_translations(
    client: Client, task_queue: str, locales: Sequence[str], changes: set[tuple[str, uuid.UUID]]
) -> None:
    try:
        await tell(client, task_queue, targets_of(changes, locales))
    except Exception as exc:
        log.warning("translation_start_failed", error=type(exc).__name__, count=len(changes))
