"""Catalog translations: the languages we serve and the overlay that swaps a row's text for its
translation (the `translations` table) where one exists."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.models.content import Translation

LOCALES = ("en", "ar", "hi", "es", "fr")


async def translations(
    db: AsyncSession,
    entity_type: str,
    ids: Collection[uuid.UUID],
    fields: Sequence[str],
    locale: str,
) -> dict[uuid.UUID, dict[str, str]]:
    """The translated text of these rows' fields in `locale`, by row id and field."""
    rows = await db.execute(
        select(Translation.entity_id, Translation.field_name, Translation.translated_text).where(
            Translation.entity_type == entity_type,
            Translation.entity_id.in_(ids),
            Translation.locale == locale,
            Translation.field_name.in_(fields),
        )
    )
    by_id: dict[uuid.UUID, dict[str, str]] = {}
    for entity_id, field_name, text in rows:
        by_id.setdefault(entity_id, {})[field_name] = text
    return by_id


async def translate(
    db: AsyncSession,
    entity_type: str,
    fields: Sequence[str],
    items: list[dict[str, Any]],
    locale: str | None,
) -> list[dict[str, Any]]:
    """Swap each item's `fields` for their translation into `locale` where one exists; the
    original text otherwise. Items are rendered rows (dicts with an "id")."""
    if not locale or not fields or not items:
        return items
    by_id = await translations(db, entity_type, [item["id"] for item in items], fields, locale)
    for item in items:
        item.update(by_id.get(item["id"], {}))
    return items
