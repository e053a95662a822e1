"""Translation shapes: a row as reviewers see it (with its current source text), a person's
translation, a review decision, and the auto-translate trigger."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from domain.translation import TranslationStatus

EntityType = Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,100}$")]
FieldName = Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,100}$")]
LocaleCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]
# Long enough for a website page; whitespace is kept as written (right-to-left marks too).
TranslatedText = Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class TranslationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    entity_type: str
    entity_id: uuid.UUID
    field_name: str
    locale: str
    # The working text (the machine's or a person's); published_text is what the public reads.
    translated_text: str | None
    published_text: str | None
    is_auto_translated: bool
    status: TranslationStatus
    source_hash: str | None
    engine: str | None
    reviewed_by: uuid.UUID | None
    reason: str | None
    # The source text as it is now (what a reviewer translates from).
    source_text: str | None = None
    created_at: datetime
    updated_at: datetime


class TranslationFilters(BaseModel):
    entity_type: EntityType | None = None
    entity_id: uuid.UUID | None = None
    locale: LocaleCode | None = None
    status: TranslationStatus | None = None
    field_name: FieldName | None = None


class TranslationCreate(BaseModel):
    """A person's translation of one field: approved (and published) on save."""

    model_config = ConfigDict(extra="forbid")

    entity_type: EntityType
    entity_id: uuid.UUID
    field_name: FieldName
    locale: LocaleCode
    translated_text: TranslatedText


class TranslationUpdate(BaseModel):
    """An edit, a decision, or both. Rejecting needs a reason; text alone waits for approval."""

    model_config = ConfigDict(extra="forbid")

    translated_text: TranslatedText | None = None
    status: Literal[TranslationStatus.APPROVED, TranslationStatus.REJECTED] | None = None
    reason: Reason | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.translated_text is None and self.status is None:
            raise ValueError("send translated_text, status, or both")
        if self.status == TranslationStatus.REJECTED and not self.reason:
            raise ValueError("a rejection needs a reason")
        return self


class AutoTranslateIn(BaseModel):
    """One entity (entity_type and entity_id), every entity of a type (entity_type), or,
    with neither, everything stale or without a translation."""

    model_config = ConfigDict(extra="forbid")

    entity_type: EntityType | None = None
    entity_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _entity_needs_type(self) -> Self:
        if self.entity_id is not None and self.entity_type is None:
            raise ValueError("entity_id needs its entity_type")
        return self


class AutoTranslateOut(BaseModel):
    started: int = Field(description="Workflows this request started")
    already_running: int = Field(description="Workflows that were running and were told")
