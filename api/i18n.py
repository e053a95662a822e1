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

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import context
from domain.models.content import Translation
from domain.translation import TranslationStatus
from runtime.settings import Settings, get_settings


def platform_locales(settings: Settings) -> tuple[str, ...]:
    """The languages the platform serves: the source (MEDIVOY_DEFAULT_LOCALE, first) and the
    ones it is translated into (MEDIVOY_TRANSLATION_LOCALES)."""
    return tuple(dict.fromkeys([settings.default_locale, *settings.translation_locales]))


def served_locales() -> tuple[str, ...]:
    """The platform's languages as this request's app was configured (the request context
    carries them, so request schemas can check a locale); outside a request, the process's
    settings."""
    ctx = context.get()
    if ctx is not None and ctx.locales:
        return ctx.locales
    return platform_locales(get_settings())


def source_locale() -> str:
    return served_locales()[0]


class Localized(BaseModel):
    """Beside translated content: the language it is shown in, and its fields shown in the
    source language for want of a published translation."""

    locale: str = Field(default_factory=source_locale)
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
    source = source_locale()
    if not locale or locale == source:
        for item in items:
            item.update(locale=source, fallback_fields=[])
        return items
    by_id = await translations(db, entity_type, [item["id"] for item in items], fields, locale)
    for item in items:
        found = by_id.get(item["id"], {})
        item.update(found)
        item["locale"] = locale
        item["fallback_fields"] = [f for f in fields if item.get(f) and f not in found]
    return items
