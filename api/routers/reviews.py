"""/reviews: patients review the care they had; admins verify and publish; published reviews
are public and set the doctor's and hospital's rating."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Path
from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.crud import Access, Resource, crud_router, get_visible
from api.deps import AdminUser, DbSession
from api.envelope import Envelope, ok
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
    create=ReviewCreate,
    update=ReviewUpdate,
    access=ReviewAccess(),
    filters=ReviewFilters,
    search=(Review.review_text,),
    sortable=("created_at", "rating"),
)

TAG = {"name": "reviews", "description": "Patients' reviews of doctors and hospitals"}
ORDER = 50
router = crud_router(reviews, prefix="/reviews", tag="reviews")


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
) -> dict[str, Any]:
    row = await get_visible(db, reviews, admin, row_id)
    row.is_verified = body.is_verified
    row.is_published = body.is_published and body.is_verified
    await service.refresh_ratings(db, row.doctor_id, row.hospital_id)
    message = "Review verified and published" if row.is_published else "Review updated"
    return ok(ReviewOut.model_validate(row).model_dump(mode="python"), message)
