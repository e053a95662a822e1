"""Translation writes and engine calls: what one TranslationWorkflow (one entity, one locale) does.

- `plan_translation` compares each translatable field's source with the hash its translation
  row follows: a new field gets a pending row, an approved one whose source changed becomes
  stale (its text stays published), an unreviewed one goes back to pending. It answers which
  fields need a machine translation.
- `machine_translate` sends those fields to the engine, each charged once (per translation and
  source) against the engine's monthly character budget; over budget it answers when the next
  month starts and what is left, and the workflow waits for it.
- `record_review` is a person's translation or decision (approve, reject, edit).
- `find_untranslated` is the hourly sweep's query: content with a field and no current
  translation in some locale.

Each is idempotent by the rows' own state: a retried attempt finds its work done and changes
nothing. Only the translation workflow calls them (one writer per translation row).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.lifecycle import refusal, write_transition
from activities.providers.translators import EngineBusy, EngineRefused, Translator
from domain import errors
from domain.lifecycle import SYSTEM, Actor, MoveRefused
from domain.models.base import Base
from domain.models.content import Translation, TranslationCharge, TranslationStatusHistory
from domain.translation import (
    LIVE,
    TRANSLATABLE,
    TRANSLATION,
    FieldKind,
    TranslationStatus,
    fields_of,
    nfc,
    source_hash,
)
from runtime.settings import Settings

S = TranslationStatus
PLATFORM = Actor(SYSTEM)
ENGINE_BUSY = "TRANSLATION_ENGINE_BUSY"
TRANSLATION_NOT_FOUND = "TRANSLATION_NOT_FOUND"
# Statuses whose text is not (yet) a translation of the current source.
NEEDS_TEXT = frozenset({S.PENDING, S.STALE})


class TranslationTarget(BaseModel):
    """One entity in one locale: the input of a TranslationWorkflow (ids only)."""

    entity_type: str
    entity_id: uuid.UUID
    locale: str = Field(pattern=r"^[a-z]{2}$")


class PlanInput(BaseModel):
    target: TranslationTarget
    # Rejected fields to translate again (a reviewer's rejection asks for a new proposal).
    retranslate: list[str] = Field(default_factory=list)


class Plan(BaseModel):
    exists: bool
    to_translate: list[str] = Field(default_factory=list)


class MachineInput(BaseModel):
    target: TranslationTarget
    fields: list[str]
    # The workflow's clock: the month the characters count against.
    now: datetime


class MachineResult(BaseModel):
    translated: list[str] = Field(default_factory=list)
    # For a person: the engine refused these (an unsupported pair, a text too long).
    refused: list[str] = Field(default_factory=list)
    engine: str | None = None
    # Set when the month's budget is spent: wait until then for `remaining`.
    over_budget_until: datetime | None = None
    remaining: list[str] = Field(default_factory=list)


class Reviewer(BaseModel):
    user_id: uuid.UUID
    role: str


class ReviewInput(BaseModel):
    """A person's translation or decision on one field of the target."""

    target: TranslationTarget
    field_name: str
    reviewer: Reviewer
    # approved or rejected; None: an edit that waits for approval (in_review).
    status: TranslationStatus | None = None
    translated_text: str | None = None
    reason: str | None = None


class TranslationView(BaseModel):
    id: uuid.UUID
    entity_type: str
    entity_id: uuid.UUID
    field_name: str
    locale: str
    translated_text: str | None
    published_text: str | None
    is_auto_translated: bool
    status: TranslationStatus
    source_hash: str | None
    engine: str | None
    reviewed_by: uuid.UUID | None
    reason: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Translation) -> TranslationView:
        return cls(
            id=row.id,
            entity_type=row.entity_type,
            entity_id=row.entity_id,
            field_name=row.field_name,
            locale=row.locale,
            translated_text=row.translated_text,
            published_text=row.published_text,
            is_auto_translated=row.is_auto_translated,
            status=TranslationStatus(row.status),
            source_hash=row.source_hash,
            engine=row.engine,
            reviewed_by=row.reviewed_by_user_id,
            reason=row.reason,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class SweepResult(BaseModel):
    targets: list[TranslationTarget] = Field(default_factory=list)


def model_of(entity_type: str) -> Any:
    """The mapped class of a translatable table."""
    for mapper in Base.registry.mappers:
        if getattr(mapper.class_, "__tablename__", None) == entity_type:
            return mapper.class_
    raise LookupError(entity_type)


def month_of(moment: datetime) -> date:
    return date(moment.year, moment.month, 1)


def next_month(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


async def _rows(session: AsyncSession, target: TranslationTarget) -> dict[str, Translation]:
    rows = await session.scalars(
        select(Translation)
        .where(
            Translation.entity_type == target.entity_type,
            Translation.entity_id == target.entity_id,
            Translation.locale == target.locale,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {row.field_name: row for row in rows}


async def _move(
    session: AsyncSession,
    row: Translation,
    to: TranslationStatus,
    actor: Actor,
    changes: dict[str, Any],
    notes: str | None = None,
) -> None:
    await write_transition(
        session,
        Translation,
        TranslationStatusHistory,
        row.id,
        row.status_seq + 1,
        TranslationStatus(row.status),
        to,
        actor,
        notes,
        {},
        not_found_code=TRANSLATION_NOT_FOUND,
    )
    # None is a value here (clearing published text), so set the changes directly.
    for key, value in changes.items():
        setattr(row, key, value)


async def _new_row(
    session: AsyncSession, target: TranslationTarget, field_name: str, hashed: str | None
) -> Translation:
    """The pending row of a field (history seq 1), or the one a concurrent writer made."""
    row_id = uuid.uuid4()
    await session.execute(
        insert(Translation)
        .values(
            id=row_id,
            entity_type=target.entity_type,
            entity_id=target.entity_id,
            field_name=field_name,
            locale=target.locale,
            status=S.PENDING.value,
            status_seq=1,
            source_hash=hashed,
        )
        .on_conflict_do_nothing(index_elements=["entity_type", "entity_id", "field_name", "locale"])
    )
    row = await session.scalar(
        select(Translation)
        .where(
            Translation.entity_type == target.entity_type,
            Translation.entity_id == target.entity_id,
            Translation.field_name == field_name,
            Translation.locale == target.locale,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    if row.id == row_id:
        session.add(
            TranslationStatusHistory(
                translation_id=row_id, seq=1, to_status=S.PENDING.value, actor_role=SYSTEM
            )
        )
    return row


async def _source(session: AsyncSession, target: TranslationTarget) -> dict[str, str] | None:
    """The entity's translatable text by field (empty fields left out); None when it is gone."""
    model = model_of(target.entity_type)
    entity = await session.get(model, target.entity_id)
    if entity is None:
        return None
    found: dict[str, str] = {}
    for name in fields_of(target.entity_type):
        value = getattr(entity, name, None)
        if isinstance(value, str) and value.strip():
            found[name] = nfc(value)
    return found


class TranslationActivities:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        translator: Translator | None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._translator = translator

    @activity.defn
    async def plan_translation(self, plan: PlanInput) -> Plan:
        target = plan.target
        if target.entity_type not in TRANSLATABLE:
            raise refusal(errors.Invalid(f"{target.entity_type} is not translated"))
        async with self._sessionmaker() as session, session.begin():
            source = await _source(session, target)
            rows = await _rows(session, target)
            if source is None:
                for gone in rows.values():
                    if TranslationStatus(gone.status) in LIVE:
                        await _move(session, gone, S.WITHDRAWN, PLATFORM, {"published_text": None})
                return Plan(exists=False)
            todo: list[str] = []
            for name in fields_of(target.entity_type):
                row = rows.get(name)
                if name not in source:
                    # An emptied field: nothing to translate, nothing left to show.
                    if row is not None and row.published_text is not None:
                        row.published_text = None
                    continue
                hashed = source_hash(source[name])
                if row is None:
                    row = await _new_row(session, target, name, hashed)
                status = TranslationStatus(row.status)
                if status == S.WITHDRAWN:
                    continue
                if row.source_hash != hashed:
                    if status == S.APPROVED:
                        await _move(session, row, S.STALE, PLATFORM, {"source_hash": hashed})
                    elif status in NEEDS_TEXT:
                        row.source_hash = hashed
                    else:
                        await _move(session, row, S.PENDING, PLATFORM, {"source_hash": hashed})
                status = TranslationStatus(row.status)
                if status in NEEDS_TEXT or (status == S.REJECTED and name in plan.retranslate):
                    todo.append(name)
            return Plan(exists=True, to_translate=todo)

    async def _charge(
        self, engine: str, row_id: uuid.UUID, hashed: str, characters: int, month: date
    ) -> bool:
        """Count the characters against this month's budget, once per (row, source): False
        when they do not fit. Serialized per engine by an advisory lock."""
        budget = self._settings.translation_monthly_characters.get(engine)
        async with self._sessionmaker() as session, session.begin():
            await session.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                {"key": f"translation-budget:{engine}"},
            )
            charged = await session.scalar(
                select(TranslationCharge.id).where(
                    TranslationCharge.engine == engine,
                    TranslationCharge.translation_id == row_id,
                    TranslationCharge.source_hash == hashed,
                )
            )
            if charged is not None:
                return True
            if budget is not None:
                spent = await session.scalar(
                    select(func.coalesce(func.sum(TranslationCharge.characters), 0)).where(
                        TranslationCharge.engine == engine, TranslationCharge.month == month
                    )
                )
                if int(spent or 0) + characters > budget:
                    return False
            session.add(
                TranslationCharge(
                    engine=engine,
                    translation_id=row_id,
                    source_hash=hashed,
                    month=month,
                    characters=characters,
                )
            )
            return True

    @activity.defn
    async def machine_translate(self, job: MachineInput) -> MachineResult:
        target = job.target
        engine = self._translator
        if engine is None:
            # No engine: the rows wait in the review queue for a person.
            return MachineResult()
        result = MachineResult(engine=engine.name)
        kinds = fields_of(target.entity_type)
        source_locale = self._settings.default_locale
        for position, name in enumerate(job.fields):
            async with self._sessionmaker() as session:
                source = await _source(session, target)
                found = (await _rows(session, target)).get(name)
                seen = (found.id, found.source_hash, found.status) if found else None
                await session.rollback()
            if source is None or seen is None or name not in source:
                continue
            row_id, row_hash, row_status = seen
            hashed = source_hash(source[name])
            if row_hash != hashed or TranslationStatus(row_status) not in (*NEEDS_TEXT, S.REJECTED):
                # Changed again meanwhile (the next plan takes it) or already done.
                continue
            fits = await self._charge(
                engine.name, row_id, hashed, len(source[name]), month_of(job.now)
            )
            if not fits:
                result.over_budget_until = next_month(job.now)
                result.remaining = list(job.fields[position:])
                return result
            try:
                translated = nfc(await engine.translate(source[name], source_locale, target.locale))
            except EngineRefused as exc:
                activity.logger.warning("translation refused by %s: %s", engine.name, exc)
                result.refused.append(name)
                continue
            except EngineBusy as exc:
                raise ApplicationError(f"{engine.name}: {exc}", type=ENGINE_BUSY) from exc
            publish = (
                kinds.get(name) == FieldKind.GENERAL
                and self._settings.translation_auto_publish_general
            )
            async with self._sessionmaker() as session, session.begin():
                row = (await _rows(session, target)).get(name)
                if row is None or row.source_hash != hashed:
                    continue
                if TranslationStatus(row.status) not in (*NEEDS_TEXT, S.REJECTED):
                    continue
                changes: dict[str, Any] = {
                    "translated_text": translated,
                    "is_auto_translated": True,
                    "engine": engine.name,
                    "reviewed_by_user_id": None,
                    "reason": None,
                }
                if publish:
                    changes["published_text"] = translated
                await _move(session, row, S.MACHINE_TRANSLATED, PLATFORM, changes, engine.name)
            result.translated.append(name)
        return result

    @activity.defn
    async def record_review(self, review: ReviewInput) -> TranslationView:
        target = review.target
        if review.field_name not in fields_of(target.entity_type):
            raise refusal(
                errors.Invalid(
                    f"{review.field_name} is not a translated field of {target.entity_type}",
                    code="FIELD_NOT_TRANSLATED",
                )
            )
        actor = Actor(review.reviewer.role, review.reviewer.user_id)
        text_given = nfc(review.translated_text) if review.translated_text is not None else None
        async with self._sessionmaker() as session, session.begin():
            source = await _source(session, target)
            if source is None:
                raise refusal(errors.NotFound("The content is gone", code="CONTENT_NOT_FOUND"))
            row = (await _rows(session, target)).get(review.field_name)
            if row is None:
                hashed = (
                    source_hash(source[review.field_name]) if review.field_name in source else None
                )
                row = await _new_row(session, target, review.field_name, hashed)
            current = TranslationStatus(row.status)
            wanted = review.status or S.IN_REVIEW
            changes: dict[str, Any] = {
                "reviewed_by_user_id": review.reviewer.user_id,
                "reason": review.reason,
            }
            if text_given is not None:
                changes["translated_text"] = text_given
                changes["is_auto_translated"] = False
            final_text = text_given if text_given is not None else row.translated_text
            if wanted == S.APPROVED:
                if not final_text:
                    raise refusal(
                        errors.Invalid(
                            "There is no text to approve: send translated_text",
                            code="TRANSLATION_TEXT_REQUIRED",
                        )
                    )
                changes["published_text"] = final_text
                # A person approved it: it is no longer only the machine's.
                changes["is_auto_translated"] = False
            if wanted == S.REJECTED and row.published_text == row.translated_text:
                # The rejected text itself was live (auto-published): take it down.
                changes["published_text"] = None
            if wanted == current == S.APPROVED:
                # An edit of approved text: stays approved, the new text is live at once.
                for key, value in changes.items():
                    setattr(row, key, value)
            else:
                try:
                    TRANSLATION.check(current, wanted, actor)
                except MoveRefused as exc:
                    raise refusal(exc) from exc
                await _move(session, row, wanted, actor, changes, review.reason)
            await session.flush()
            await session.refresh(row)
            return TranslationView.of(row)

    @activity.defn
    async def find_untranslated(self, limit: int) -> SweepResult:
        async with self._sessionmaker() as session:
            targets = await untranslated(session, self._settings.translation_locales, limit=limit)
        return SweepResult(targets=targets)


async def untranslated(
    session: AsyncSession,
    locales: Sequence[str],
    *,
    entity_types: Iterable[str] | None = None,
    entity_id: uuid.UUID | None = None,
    limit: int = 1000,
) -> list[TranslationTarget]:
    """(entity, locale) pairs with a field that has text and no translation row following its
    current source (missing, or its source changed since). Withdrawn rows never count."""
    found: list[TranslationTarget] = []
    for entity_type in entity_types or TRANSLATABLE:
        fields = list(fields_of(entity_type))
        model = model_of(entity_type)
        stmt = select(model.id, *(getattr(model, f) for f in fields))
        if entity_id is not None:
            stmt = stmt.where(model.id == entity_id)
        hashes: dict[uuid.UUID, dict[str, str]] = {}
        for row in await session.execute(stmt):
            values = dict(zip(fields, row[1:], strict=True))
            hashes[row[0]] = {
                f: source_hash(v) for f, v in values.items() if isinstance(v, str) and v.strip()
            }
        if not hashes:
            continue
        kept: dict[tuple[uuid.UUID, str, str], str | None] = {}
        rows = await session.execute(
            select(
                Translation.entity_id,
                Translation.field_name,
                Translation.locale,
                Translation.source_hash,
            ).where(
                Translation.entity_type == entity_type,
                Translation.entity_id.in_(hashes),
                Translation.status != S.WITHDRAWN.value,
            )
        )
        for eid, field_name, locale, hashed in rows:
            kept[(eid, field_name, locale)] = hashed
        for eid, fields_hashed in hashes.items():
            for locale in locales:
                if any(kept.get((eid, f, locale), "") != h for f, h in fields_hashed.items()):
                    found.append(
                        TranslationTarget(entity_type=entity_type, entity_id=eid, locale=locale)
                    )
                    if len(found) >= limit:
                        return found
    return found


def translation_activity_list(
    activities: TranslationActivities,
) -> list[Callable[..., Awaitable[Any]]]:
    return [
        activities.plan_translation,
        activities.machine_translate,
        activities.record_review,
        activities.find_untranslated,
    ]


def build_translation_activities(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    translator: Translator | None,
) -> TranslationActivities:
    return TranslationActivities(sessionmaker, settings, translator)
