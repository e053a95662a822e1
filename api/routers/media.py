"""/media: the files a user uploaded (their index, download and removal). Files attached to a
medical record or a lab test are read and removed through that record."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import Select, false
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import CurrentUser, DbSession, Paging, RequestLocale, StorageDep
from api.envelope import Envelope, Page, ok
from api.resources import (
    SORT_HELP,
    Access,
    Resource,
    RowId,
    Search,
    changeable,
    get_visible,
    list_page,
    render_one,
)
from api.schemas.media import MediaFilters, MediaOut
from api.services import care
from domain.access import Role
from domain.errors import Conflict, Forbidden
from domain.files import content_disposition, download_name
from domain.models.content import Media
from domain.models.users import User

# Files that belong to a clinical record: that record decides who reads or removes them.
ATTACHED_TO_RECORDS = ("medical_record", "lab_test")


class MediaAccess(Access[Media]):
    """Each user sees the files they uploaded; admins see all."""

    def visible(self, user: User | None, stmt: Select[Any]) -> Select[Any]:
        if user is None:
            return stmt.where(false())
        if user.user_type == Role.ADMIN:
            return stmt
        return stmt.where(Media.uploaded_by_user_id == user.id)

    async def before_change(self, db: AsyncSession, user: User, row: Any) -> None:
        if user.user_type != Role.ADMIN and row.uploaded_by_user_id != user.id:
            raise Forbidden("Only who uploaded this file may remove it", code="NOT_UPLOADER")


media = Resource(
    model=Media,
    name="media",
    out=MediaOut,
    access=MediaAccess(),
    search=(Media.file_name,),
    sortable=("created_at", "file_name", "file_size"),
)

TAG = {"name": "media", "description": "Uploaded files"}

router = APIRouter(prefix="/media", tags=["media"])
Sort = Annotated[str | None, Query(pattern=media.sort_pattern, description=SORT_HELP)]


@router.get("", summary="List media", name="list_media")
async def list_media_files(
    db: DbSession,
    user: CurrentUser,
    paging: Paging,
    locale: RequestLocale,
    filters: Annotated[MediaFilters, Depends()],
    search: Search = None,
    sort: Sort = None,
) -> Page[MediaOut]:
    return await list_page(db, media, user, paging, locale, filters, search, sort)


@router.get("/{id}", summary="One media", name="get_media")
async def get_media(
    row_id: RowId, db: DbSession, user: CurrentUser, locale: RequestLocale
) -> Envelope[MediaOut]:
    row = await get_visible(db, media, user, row_id)
    return ok(await render_one(db, media, row, locale))


@router.delete(
    "/{id}",
    response_model=Envelope[None],
    summary="Delete a file you uploaded (or any, as admin) and its stored object",
    name="delete_media",
)
async def delete_media(
    row: Annotated[Media, Depends(changeable(media))], db: DbSession, storage: StorageDep
) -> Envelope[None]:
    if row.entity_type in ATTACHED_TO_RECORDS:
        raise Conflict(
            f"This file belongs to a {row.entity_type.replace('_', ' ')}; delete it there",
            code="MEDIA_ATTACHED",
        )
    await care.delete_with_objects(db, storage, [row], [row.file_url])
    return ok(None, "Media deleted")


@router.get(
    "/{id}/download",
    response_class=StreamingResponse,
    summary="Download a file you uploaded",
    name="download_media",
)
async def download_media(
    row_id: RowId, db: DbSession, user: CurrentUser, storage: StorageDep
) -> StreamingResponse:
    row = await get_visible(db, media, user, row_id)
    kind = care.kind_of(row.file_type)
    stream = await care.open_download(storage, row.file_url)
    return StreamingResponse(
        stream,
        media_type=kind.mime if kind else "application/octet-stream",
        headers={
            "Content-Disposition": content_disposition(download_name(row.file_name, kind)),
            "Cache-Control": "private, no-store",
        },
    )
