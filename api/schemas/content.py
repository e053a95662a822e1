"""FAQ and website page shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.i18n import Localized

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=100)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Category = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100_000)]


class FaqOut(Localized):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    question: str
    answer: str
    category: str | None
    display_order: int
    is_published: bool
    created_at: datetime
    updated_at: datetime


class FaqCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: Body
    answer: Body
    category: Category | None = None
    display_order: Annotated[int, Field(ge=0, le=100_000)] = 0
    is_published: bool = True


class FaqUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: Body | None = None
    answer: Body | None = None
    category: Category | None = None
    display_order: Annotated[int, Field(ge=0, le=100_000)] | None = None
    is_published: bool | None = None


class FaqFilters(BaseModel):
    category: Category | None = None


class PageOut(Localized):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    page_slug: str
    title: str | None
    content: str | None
    meta_description: str | None
    meta_keywords: str | None
    is_published: bool
    created_at: datetime
    updated_at: datetime


class PageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    page_slug: Slug
    title: Short
    content: Body
    meta_description: Annotated[str, StringConstraints(max_length=500)] | None = None
    meta_keywords: Annotated[str, StringConstraints(max_length=500)] | None = None
    is_published: bool = True


class PageUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    page_slug: Slug | None = None
    title: Short | None = None
    content: Body | None = None
    meta_description: Annotated[str, StringConstraints(max_length=500)] | None = None
    meta_keywords: Annotated[str, StringConstraints(max_length=500)] | None = None
    is_published: bool | None = None
