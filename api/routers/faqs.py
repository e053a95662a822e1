"""/faqs: published answers for everyone; admins write them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy import Select

from api.deps import CurrentUser, DbSession, MaybeUser, Paging, RequestLocale
from api.envelope import Envelope, Page, ok
from api.resources import (
    SORT_HELP,
    Access,
    Resource,
    RowId,
    Search,
    changeable,
    create_row,
    creator,
    delete_row,
    get_visible,
    list_page,
    render_one,
    update_row,
)
from api.schemas.content import FaqCreate, FaqFilters, FaqOut, FaqUpdate
from domain.access import Role
from domain.models.content import Faq
from domain.models.users import User


class FaqAccess(Access[Faq]):
    public_read = True

    def visible(self, user: User | None, stmt: Select[Any]) -> Select[Any]:
        if user is not None and user.user_type == Role.ADMIN:
            return stmt
        return stmt.where(Faq.is_published.is_(True))


faqs = Resource(
    model=Faq,
    name="faq",
    out=FaqOut,
    access=FaqAccess(),
    search=(Faq.question, Faq.answer),
    sortable=("display_order", "created_at", "category"),
    default_sort="display_order",
    translated=("question", "answer"),
)

TAG = {"name": "faqs", "description": "Frequently asked questions"}
router = APIRouter(prefix="/faqs", tags=["faqs"])
Sort = Annotated[str | None, Query(pattern=faqs.sort_pattern, description=SORT_HELP)]


@router.get("", summary="List faqs", name="list_faq")
async def list_faqs(
    db: DbSession,
    user: MaybeUser,
    paging: Paging,
    locale: RequestLocale,
    filters: Annotated[FaqFilters, Depends()],
    search: Search = None,
    sort: Sort = None,
) -> Page[FaqOut]:
    return await list_page(db, faqs, user, paging, locale, filters, search, sort)


@router.get("/{id}", summary="One faq", name="get_faq")
async def get_faq(
    row_id: RowId, db: DbSession, user: MaybeUser, locale: RequestLocale
) -> Envelope[FaqOut]:
    row = await get_visible(db, faqs, user, row_id)
    return ok(await render_one(db, faqs, row, locale))


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a faq", name="create_faq")
async def create_faq(
    user: Annotated[User, Depends(creator(faqs))], body: FaqCreate, db: DbSession
) -> Envelope[FaqOut]:
    row = await create_row(db, faqs, user, body.model_dump(exclude_unset=True))
    return ok(FaqOut.model_validate(row), "Faq created")


@router.patch("/{id}", summary="Change a faq", name="update_faq")
async def update_faq(
    row: Annotated[Faq, Depends(changeable(faqs))],
    body: FaqUpdate,
    db: DbSession,
    user: CurrentUser,
) -> Envelope[FaqOut]:
    await update_row(db, faqs, user, row, body.model_dump(exclude_unset=True))
    return ok(FaqOut.model_validate(row), "Faq updated")


@router.delete("/{id}", summary="Delete a faq", name="delete_faq")
async def delete_faq(
    row: Annotated[Faq, Depends(changeable(faqs))], db: DbSession, user: CurrentUser
) -> Envelope[None]:
    return ok(None, await delete_row(db, faqs, user, row))
