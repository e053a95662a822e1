"""/users: administration of accounts (admins), and each user's own record."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from api.deps import AdminUser, CurrentUser, DbSession, Paging, SettingsDep, Temporal
from api.envelope import Envelope, Page, ok, page
from api.schemas.users import UserCreate, UserFilters, UserOut, UserUpdate
from api.services import auth
from api.services import users as service
from domain.access import Role
from domain.errors import Forbidden, NotFound

TAG = {"name": "users", "description": "User administration"}

router = APIRouter(prefix="/users", tags=["users"])


@router.get("", response_model=Page[UserOut], summary="List users (admin)")
async def list_users(
    _: AdminUser, db: DbSession, paging: Paging, filters: Annotated[UserFilters, Depends()]
) -> Page[UserOut]:
    rows, total = await service.list_users(db, filters, offset=paging.offset, limit=paging.limit)
    return page(
        [UserOut.model_validate(u) for u in rows], page=paging.page, limit=paging.limit, total=total
    )


@router.get("/{user_id}", response_model=Envelope[UserOut], summary="A user (admin, or yourself)")
async def get_user(user_id: uuid.UUID, caller: CurrentUser, db: DbSession) -> Envelope[UserOut]:
    if caller.user_type != Role.ADMIN and caller.id != user_id:
        raise NotFound("User not found", code="USER_NOT_FOUND")
    return ok(UserOut.model_validate(await service.get_user(db, user_id)))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[UserOut],
    summary="Create a user of any role (admin)",
)
async def create_user(body: UserCreate, _: AdminUser, db: DbSession) -> Envelope[UserOut]:
    user = await auth.create_user(
        db,
        email=body.email,
        password=body.password,
        user_type=body.user_type,
        phone=body.phone,
        first_name=body.first_name,
        last_name=body.last_name,
        locale=body.locale,
        is_verified=body.is_verified,
        approved=True,
    )
    await db.refresh(user)
    return ok(UserOut.model_validate(user), "User created")


async def changeable_user(user_id: uuid.UUID, caller: CurrentUser) -> uuid.UUID:
    """The path's user, if the caller may change them (themself, or anyone as admin); 404 for
    anyone else's, before the body is read."""
    if caller.user_type != Role.ADMIN and caller.id != user_id:
        raise NotFound("User not found", code="USER_NOT_FOUND")
    return user_id


@router.patch(
    "/{user_id}",
    response_model=Envelope[UserOut],
    summary="Change a user (admin: anything listed; yourself: your profile fields)",
)
async def update_user(
    user_id: Annotated[uuid.UUID, Depends(changeable_user)],
    body: UserUpdate,
    caller: CurrentUser,
    db: DbSession,
    settings: SettingsDep,
    temporal: Temporal,
) -> Envelope[UserOut]:
    changes = body.model_dump(exclude_unset=True)
    if caller.user_type != Role.ADMIN:
        privileged = sorted({"user_type", "is_verified", "is_approved"} & changes.keys())
        if privileged:
            raise Forbidden(
                "Only an administrator may change " + ", ".join(privileged),
                code="FIELD_NOT_ALLOWED",
                details={"fields": privileged},
            )
    user = await service.update_user(db, await service.get_user(db, user_id), changes)
    message = "User updated"
    if changes.get("email") and await service.change_email(
        db, temporal, settings, user, changes["email"]
    ):
        message += service.EMAIL_CHANGE_SENT
    return ok(UserOut.model_validate(user), message)


@router.delete("/{user_id}", response_model=Envelope[None], summary="Delete a user (admin)")
async def delete_user(user_id: uuid.UUID, admin: AdminUser, db: DbSession) -> Envelope[None]:
    await service.delete_user(db, admin, await service.get_user(db, user_id))
    return ok(None, "User deleted")


@router.patch("/{user_id}/activate", response_model=Envelope[UserOut], summary="Activate (admin)")
async def activate(user_id: uuid.UUID, admin: AdminUser, db: DbSession) -> Envelope[UserOut]:
    user = await service.set_active(db, admin, await service.get_user(db, user_id), True)
    return ok(UserOut.model_validate(user), "User activated")


@router.patch(
    "/{user_id}/deactivate",
    response_model=Envelope[UserOut],
    summary="Deactivate (admin): the user's sessions end at once",
)
async def deactivate(user_id: uuid.UUID, admin: AdminUser, db: DbSession) -> Envelope[UserOut]:
    user = await service.set_active(db, admin, await service.get_user(db, user_id), False)
    return ok(UserOut.model_validate(user), "User deactivated")
