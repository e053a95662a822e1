"""/translations: the review queue, people's translations and decisions, and the admins'
auto-translate trigger.

Who: reviewers are the platform's staff, admins and coordinators (domain.translation.REVIEWERS;
there is no separate translator role: a translator gets a coordinator account). Only admins
trigger auto-translation. Every write is a command to the (entity, locale)'s
TranslationWorkflow, whose transition table decides (409 INVALID_TRANSITION with the allowed
next statuses). Text is stored in Unicode NFC, otherwise exactly as sent."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from activities.translate import Reviewer, ReviewInput, TranslationTarget, TranslationView
from api.deps import AdminUser, DbSession, Paging, SettingsDep, Temporal, require_roles
from api.envelope import Envelope, Page, ok, page
from api.schemas.translations import (
    AutoTranslateIn,
    AutoTranslateOut,
    TranslationCreate,
    TranslationFilters,
    TranslationOut,
    TranslationUpdate,
)
from api.services import translations as service
from api.translation_hook import tell
from domain.errors import Invalid
from domain.models.users import User
from domain.translation import REVIEWERS
from runtime.settings import Settings
from workflows.translation import review

TAG = {
    "name": "translations",
    "description": "Machine translations proposed, reviewed and published by people",
}
router = APIRouter(prefix="/translations", tags=["translations"])

ReviewerUser = Annotated[User, Depends(require_roles(*REVIEWERS))]


def _out(view: TranslationView, source_text: str | None) -> TranslationOut:
    return TranslationOut.model_validate({**view.model_dump(), "source_text": source_text})


def _check_locale(settings: Settings, locale: str) -> None:
    if locale not in settings.translation_locales:
        raise Invalid(
            f"{locale} is not one of the platform's locales",
            code="LOCALE_NOT_SUPPORTED",
            details={"allowed": settings.translation_locales},
        )


@router.get("", response_model=Page[TranslationOut], summary="The translations (review queue)")
async def list_translations(
    user: ReviewerUser,
    db: DbSession,
    paging: Paging,
    filters: Annotated[TranslationFilters, Depends()],
) -> Page[TranslationOut]:
    rows, total = await service.review_queue(db, paging, **filters.model_dump())
    items = [_out(TranslationView.of(row), source) for row, source in rows]
    return page(items, page=paging.page, limit=paging.limit, total=total)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[TranslationOut],
    summary="A person's translation (approved on save)",
)
async def create_translation(
    body: TranslationCreate,
    user: ReviewerUser,
    db: DbSession,
    temporal: Temporal,
    settings: SettingsDep,
) -> Envelope[TranslationOut]:
    _check_locale(settings, body.locale)
    await service.check_content(db, body.entity_type, body.entity_id, body.field_name)
    view = await review(
        temporal,
        settings.task_queue,
        ReviewInput(
            target=TranslationTarget(
                entity_type=body.entity_type, entity_id=body.entity_id, locale=body.locale
            ),
            field_name=body.field_name,
            reviewer=Reviewer(user_id=user.id, role=user.user_type),
            status="approved",
            translated_text=body.translated_text,
        ),
    )
    sources = await service.source_texts(db, [await service.get_translation(db, view.id)])
    return ok(
        _out(view, sources.get((view.entity_type, view.entity_id, view.field_name))),
        "Translation saved and approved",
    )


@router.patch(
    "/{translation_id}",
    response_model=Envelope[TranslationOut],
    summary="Edit, approve or reject a translation",
)
async def update_translation(
    translation_id: uuid.UUID,
    user: ReviewerUser,
    db: DbSession,
    temporal: Temporal,
    settings: SettingsDep,
    body: TranslationUpdate,
) -> Envelope[TranslationOut]:
    row = await service.get_translation(db, translation_id)
    view = await review(
        temporal,
        settings.task_queue,
        ReviewInput(
            target=TranslationTarget(
                entity_type=row.entity_type, entity_id=row.entity_id, locale=row.locale
            ),
            field_name=row.field_name,
            reviewer=Reviewer(user_id=user.id, role=user.user_type),
            status=body.status,
            translated_text=body.translated_text,
            reason=body.reason,
        ),
    )
    await db.refresh(row)
    sources = await service.source_texts(db, [row])
    return ok(_out(view, sources.get((row.entity_type, row.entity_id, row.field_name))))


@router.post(
    "/auto-translate",
    response_model=Envelope[AutoTranslateOut],
    summary="Start machine translation: an entity, a type, or everything stale or missing",
)
async def auto_translate(
    body: AutoTranslateIn,
    user: AdminUser,
    db: DbSession,
    temporal: Temporal,
    settings: SettingsDep,
) -> Envelope[AutoTranslateOut]:
    if body.entity_type is not None:
        if body.entity_id is not None:
            await service.check_content(db, body.entity_type, body.entity_id)
        else:
            await service.check_content_type(body.entity_type)
    targets = await service.auto_translate_targets(
        db,
        settings.translation_locales,
        entity_type=body.entity_type,
        entity_id=body.entity_id,
    )
    started = await tell(temporal, settings.task_queue, targets)
    return ok(
        AutoTranslateOut(started=started, already_running=len(targets) - started),
        f"{len(targets)} translation workflows told",
    )
