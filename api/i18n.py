"""Catalog translations: the languages we serve and the overlay that swaps a row's text for its
published translation (the `translations` table) where one exists, field by field, naming the
fields that fell back to the source text.

What is published: text a reviewer approved (it stays while its source's replacement waits for
review), or general text the machine translated where MEDIVOY_TRANSLATION_AUTO_PUBLISH_GENERAL
allowed it. Clinical text is published only by a person."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.models.content import Translation
from domain.translation import TranslationStatus

LOCALES = ("en", "ar", "hi", "es", "fr")
SOURCE_LOCALE = "en"


class Localized(BaseModel):
    """Beside translated content: the language it is shown in, and its fields shown in the
    source language for want of a published translation."""

    locale: str = SOURCE_LOCALE
    fallback_fields: list[str] = []


async def translations(
    db: AsyncSession,
    entity_type: str,
    ids: Collection[uuid.UUID],
    fields: Sequence[str],
    locale: str,
) -> dict[uuid.UUID, dict[str, str]]:
    """The published text of these rows' fields in `locale`, by row id and field."""
    rows = await db.execute(
        select(Translation.entity_id, Translation.field_name, Translation.published_text).where(
            Translation.entity_type == entity_type,
            Translation.entity_id.in_(ids),
            Translation.locale == locale,
            Translation.field_name.in_(fields),
            Translation.published_text.is_not(None),
            Translation.status != TranslationStatus.WITHDRAWN.value,
        )
    )
    by_id: dict[uuid.UUID, dict[str, str]] = {}
    for entity_id, field_name, text in rows:
        if text is not None:
            by_id.setdefault(entity_id, {})[field_name] = text
    return by_id


async def translate(
    db: AsyncSession,
    entity_type: str,
    fields: Sequence[str],
    items: list[dict[str, Any]],
    locale: str | None,
) -> list[dict[str, Any]]:
    """Swap each item's `fields` for their published translation into `locale` where one
    exists; the source text otherwise, listed in the item's `fallback_fields`. Items are
    rendered rows (dicts with an "id")."""
    if not fields or not items:
        return items
    if not locale or locale == SOURCE_LOCALE:
        for item in items:
            item.update(locale=SOURCE_LOCALE, fallback_fields=[])
        return items
    by_id = await translations(db, entity_type, [item["id"] for item in items], fields, locale)
    for item in items:
        found = by_id.get(item["id"], {})
        item.update(found)
        item["locale"] = locale
        item["fallback_fields"] = [f for f in fields if item.get(f) and f not in found]
    return items
