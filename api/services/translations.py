"""Translations behind the API: the review queue's query, the content a translation names, and
what an auto-translate asks for. Never commits. (Starting workflows when content changes:
api/translation_hook.py.)"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.translate import TranslationTarget, model_of, untranslated
from api.deps import Pagination
from api.translation_hook import targets_of
from domain.errors import Invalid, NotFound
from domain.models.content import Translation
from domain.translation import TRANSLATABLE, TranslationStatus, fields_of


async def review_queue(
    db: AsyncSession,
    paging: Pagination,
    *,
    entity_type: str | None,
    entity_id: uuid.UUID | None,
    locale: str | None,
    status: TranslationStatus | None,
    field_name: str | None,
) -> tuple[list[tuple[Translation, str | None]], int]:
    """Translation rows, oldest change first, each with its current source text."""
    stmt = select(Translation)
    for column, value in (
        (Translation.entity_type, entity_type),
        (Translation.entity_id, entity_id),
        (Translation.locale, locale),
        (Translation.status, status.value if status else None),
        (Translation.field_name, field_name),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    total = await db.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = list(
        await db.scalars(
            stmt.order_by(Translation.updated_at, Translation.id)
            .offset(paging.offset)
            .limit(paging.limit)
        )
    )
    sources = await source_texts(db, rows)
    return [
        (row, sources.get((row.entity_type, row.entity_id, row.field_name))) for row in rows
    ], int(total or 0)


async def source_texts(
    db: AsyncSession, rows: Sequence[Translation]
) -> dict[tuple[str, uuid.UUID, str], str | None]:
    found: dict[tuple[str, uuid.UUID, str], str | None] = {}
    by_type: dict[str, set[uuid.UUID]] = {}
    for row in rows:
        if row.entity_type in TRANSLATABLE:
            by_type.setdefault(row.entity_type, set()).add(row.entity_id)
    for entity_type, ids in by_type.items():
        model = model_of(entity_type)
        fields = list(fields_of(entity_type))
        for entity in await db.execute(
            select(model.id, *(getattr(model, f) for f in fields)).where(model.id.in_(ids))
        ):
            for name, value in zip(fields, entity[1:], strict=True):
                found[(entity_type, entity[0], name)] = value
    return found


async def get_translation(db: AsyncSession, translation_id: uuid.UUID) -> Translation:
    row = await db.get(Translation, translation_id)
    if row is None:
        raise NotFound("Translation not found", code="TRANSLATION_NOT_FOUND")
    return row


async def check_content_type(entity_type: str) -> None:
    if entity_type not in TRANSLATABLE:
        raise Invalid(
            f"{entity_type} is not translated",
            code="ENTITY_TYPE_NOT_TRANSLATED",
            details={"allowed": sorted(TRANSLATABLE)},
        )


async def check_content(
    db: AsyncSession, entity_type: str, entity_id: uuid.UUID, field_name: str | None = None
) -> None:
    """The content exists and the field is one of its translated fields (else 404 / 400)."""
    await check_content_type(entity_type)
    if field_name is not None and field_name not in fields_of(entity_type):
        raise Invalid(
            f"{field_name} is not a translated field of {entity_type}",
            code="FIELD_NOT_TRANSLATED",
            details={"allowed": list(fields_of(entity_type))},
        )
    if await db.get(model_of(entity_type), entity_id) is None:
        raise NotFound("The content to translate does not exist", code="CONTENT_NOT_FOUND")


async def auto_translate_targets(
    db: AsyncSession,
    locales: Sequence[str],
    *,
    entity_type: str | None,
    entity_id: uuid.UUID | None,
) -> list[TranslationTarget]:
    """What an admin's auto-translate asks for: one entity (every locale), every entity of a
    type, or (neither) everything stale or missing."""
    if entity_id is not None:
        assert entity_type is not None
        return [
            TranslationTarget(entity_type=entity_type, entity_id=entity_id, locale=locale)
            for locale in locales
        ]
    if entity_type is not None:
        model = model_of(entity_type)
        ids = list(await db.scalars(select(model.id).order_by(model.id)))
        return targets_of(((entity_type, i) for i in ids), locales)
    stale = await db.execute(
        select(Translation.entity_type, Translation.entity_id, Translation.locale)
        .where(Translation.status == TranslationStatus.STALE.value)
        .distinct()
    )
    targets = {
        TranslationTarget(entity_type=t, entity_id=i, locale=loc).model_dump_json(): None
        for t, i, loc in stale
        if t in TRANSLATABLE and loc in locales
    }
    for target in await untranslated(db, locales, limit=10_000):
        targets[target.model_dump_json()] = None
    return [TranslationTarget.model_validate_json(key) for key in targets]
