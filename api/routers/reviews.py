"""/reviews: patients review the care they had; admins verify and publish; published reviews
are public and set the doctor's and hospital's rating."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, status
from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import AdminUser, CurrentUser, DbSession, MaybeUser, Paging, RequestLocale
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
from api.schemas.reviews import ReviewCreate, ReviewFilters, ReviewOut, ReviewUpdate, ReviewVerify
from api.services import reviews as service
from domain.access import Role
from domain.errors import Forbidden
from domain.models.content import Review
from domain.models.users import Patient, User


async def patient_id_of(db: AsyncSession, user: User) -> uuid.UUID | None:
    return await db.scalar(select(Patient.id).where(Patient.user_id == user.id))


class ReviewAccess(Access[Review]):
    public_read = True
    create_roles = frozenset({Role.PATIENT})

    def visible(self, user: User | None, stmt: Select[Any]) -> Select[Any]:
        if user is not None and user.user_type == Role.ADMIN:
            return stmt
        published = Review.is_published.is_(True)
        if user is not None and user.user_type == Role.PATIENT:
            own = Review.patient_id.in_(select(Patient.id).where(Patient.user_id == user.id))
            return stmt.where(or_(published, own))
        return stmt.where(published)

    def writable_fields(self, user: User) -> set[str] | None:
        if user.user_type == Role.ADMIN:
            return {"rating", "review_text", "is_published"}
        # A patient writes the review itself; verification and publishing are an admin's.
        return {"doctor_id", "hospital_id", "appointment_id", "booking_id", "rating", "review_text"}

    async def before_create(self, db: AsyncSession, user: User, data: dict[str, Any]) -> None:
        await super().before_create(db, user, data)
        patient_id = await patient_id_of(db, user)
        if patient_id is None:
            raise Forbidden("Only patients write reviews", code="ROLE_NOT_ALLOWED")
        data["patient_id"] = patient_id
        await service.check_relationship(db, patient_id, data)

    async def before_change(self, db: AsyncSession, user: User, row: Any) -> None:
        if user.user_type == Role.ADMIN:
            return
        if user.user_type == Role.PATIENT and row.patient_id == await patient_id_of(db, user):
            return
        raise Forbidden(
            "Only the review's author or an admin may change it", code="NOT_REVIEW_AUTHOR"
        )

    async def after_change(self, db: AsyncSession, user: User, row: Any) -> None:
        if user.user_type == Role.PATIENT and row in db and row.is_published:
            # An edited review goes back to moderation before it counts again.
            row.is_published = False
            row.is_verified = False
        await service.refresh_ratings(db, row.doctor_id, row.hospital_id)


reviews = Resource(
    model=Review,
    name="review",
    out=ReviewOut,
    access=ReviewAccess(),
    search=(Review.review_text,),
    sortable=("created_at", "rating"),
)

TAG = {"name": "reviews", "description": "Patients' reviews of doctors and hospitals"}
router = APIRouter(prefix="/reviews", tags=["reviews"])
Sort = Annotated[str | None, Query(pattern=reviews.sort_pattern, description=SORT_HELP)]


@router.get("", summary="List reviews", name="list_review")
async def list_reviews(
    db: DbSession,
    user: MaybeUser,
    paging: Paging,
    locale: RequestLocale,
    filters: Annotated[ReviewFilters, Depends()],
    search: Search = None,
    sort: Sort = None,
) -> Page[ReviewOut]:
    return await list_page(db, reviews, user, paging, locale, filters, search, sort)


@router.get("/{id}", summary="One review", name="get_review")
async def get_review(
    row_id: RowId, db: DbSession, user: MaybeUser, locale: RequestLocale
) -> Envelope[ReviewOut]:
    row = await get_visible(db, reviews, user, row_id)
    return ok(await render_one(db, reviews, row, locale))


@router.post(
    "", status_code=status.HTTP_201_CREATED, summary="Create a review", name="create_review"
)
async def create_review(
    user: Annotated[User, Depends(creator(reviews))], body: ReviewCreate, db: DbSession
) -> Envelope[ReviewOut]:
    row = await create_row(db, reviews, user, body.model_dump(exclude_unset=True))
    return ok(ReviewOut.model_validate(row), "Review created")


@router.patch("/{id}", summary="Change a review", name="update_review")
async def update_review(
    row: Annotated[Review, Depends(changeable(reviews))],
    body: ReviewUpdate,
    db: DbSession,
    user: CurrentUser,
    request: Request,
) -> Envelope[ReviewOut]:
    was_published = row.is_published
    await update_row(db, reviews, user, row, body.model_dump(exclude_unset=True))
    await published(request, db, row, was_published)
    return ok(ReviewOut.model_validate(row), "Review updated")


@router.delete("/{id}", summary="Delete a review", name="delete_review")
async def delete_review(
    row: Annotated[Review, Depends(changeable(reviews))], db: DbSession, user: CurrentUser
) -> Envelope[None]:
    return ok(None, await delete_row(db, reviews, user, row))


@router.patch(
    "/{id}/verify",
    response_model=Envelope[ReviewOut],
    summary="Verify (and publish) a review (admin)",
)
async def verify_review(
    row_id: Annotated[uuid.UUID, Path(alias="id")],
    body: ReviewVerify,
    admin: AdminUser,
    db: DbSession,
    request: Request,
) -> Envelope[ReviewOut]:
    row = await get_visible(db, reviews, admin, row_id)
    was_published = row.is_published
    row.is_verified = body.is_verified
    row.is_published = body.is_published and body.is_verified
    await service.refresh_ratings(db, row.doctor_id, row.hospital_id)
    await published(request, db, row, was_published)
    message = "Review verified and published" if row.is_published else "Review updated"
    return ok(ReviewOut.model_validate(row), message)


async def published(request: Request, db: AsyncSession, row: Review, was_published: bool) -> None:
    """A review of a booking that has just been published is the booking's feedback (step 12):
    committed first, then its workflow is told."""
    if row.booking_id is None or was_published or not row.is_published:
        return
    await db.commit()
    await service.feedback_received(request, row.booking_id, row.id)
