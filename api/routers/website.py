"""/website: published pages by slug for everyone (about, privacy, terms); admins write them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from sqlalchemy import Select, select

from api.crud import Access, MaybeUser, RequestLocale, Resource, crud_router, render
from api.deps import DbSession
from api.envelope import Envelope, ok
from api.schemas.content import PageCreate, PageOut, PageUpdate
from domain.access import Role
from domain.models.content import WebsiteContent
from domain.models.users import User


class PageAccess(Access[WebsiteContent]):
    public_read = True

    def visible(self, user: User | None, stmt: Select[Any]) -> Select[Any]:
        if user is not None and user.user_type == Role.ADMIN:
            return stmt
        return stmt.where(WebsiteContent.is_published.is_(True))


pages = Resource(
    model=WebsiteContent,
    name="page",
    out=PageOut,
    create=PageCreate,
    update=PageUpdate,
    access=PageAccess(),
    search=(WebsiteContent.title, WebsiteContent.content),
    sortable=("created_at", "page_slug"),
    translated=("title", "content", "meta_description"),
)

TAG = {"name": "website", "description": "Website pages (about, privacy, terms)"}
ORDER = 61
router = crud_router(
    pages, prefix="/website", tag="website", ops=("list", "create", "update", "delete")
)


@router.get("/{slug}", response_model=Envelope[PageOut], summary="A published page by its slug")
async def page_by_slug(
    slug: Annotated[str, Path(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=100)],
    db: DbSession,
    user: MaybeUser,
    locale: RequestLocale,
) -> dict[str, Any]:
    stmt = pages.access.visible(
        user, select(WebsiteContent).where(WebsiteContent.page_slug == slug)
    )
    row = await db.scalar(stmt)
    if row is None:
        raise pages.not_found()
    return ok((await render(db, pages, [row], locale))[0])
