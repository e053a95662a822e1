"""/hospitals: the public catalog of verified hospitals; admins and each hospital's own admin
keep it current. The worked example of a resource built on api.crud."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, or_
from sqlalchemy.ext.asyncio import AsyncSession

from api.crud import Access, Resource, crud_router
from api.schemas.hospitals import HospitalCreate, HospitalFilters, HospitalOut, HospitalUpdate
from domain.access import Role
from domain.errors import Forbidden
from domain.models.catalog import Hospital
from domain.models.users import User

# What a hospital's own admin may change about their hospital (not verification, not who
# administers it, not whether it is listed).
HOSPITAL_ADMIN_FIELDS = {
    "name",
    "type",
    "description",
    "logo",
    "country",
    "city",
    "address",
    "latitude",
    "longitude",
    "phone",
    "email",
    "website",
    "certifications",
    "specializations",
    "bank_details",
}


class HospitalAccess(Access[Hospital]):
    public_read = True

    def visible(self, user: User | None, stmt: Select[Any]) -> Select[Any]:
        if user is not None and user.user_type == Role.ADMIN:
            return stmt
        listed = (Hospital.is_active.is_(True)) & (Hospital.is_verified.is_(True))
        if user is not None and user.user_type == Role.HOSPITAL_ADMIN:
            return stmt.where(or_(listed, Hospital.admin_user_id == user.id))
        return stmt.where(listed)

    def writable_fields(self, user: User) -> set[str] | None:
        if user.user_type == Role.ADMIN:
            return None
        return HOSPITAL_ADMIN_FIELDS

    async def before_change(self, db: AsyncSession, user: User, row: Any) -> None:
        if user.user_type == Role.ADMIN:
            return
        if (
            user.user_type == Role.HOSPITAL_ADMIN
            and user.is_approved
            and row.admin_user_id == user.id
        ):
            return
        raise Forbidden(
            "Only this hospital's administrator may change it", code="NOT_HOSPITAL_ADMIN"
        )


hospitals = Resource(
    model=Hospital,
    name="hospital",
    out=HospitalOut,
    create=HospitalCreate,
    update=HospitalUpdate,
    access=HospitalAccess(),
    filters=HospitalFilters,
    filter_rules={
        "country": lambda v: func.lower(Hospital.country) == v.lower(),
        "city": lambda v: func.lower(Hospital.city) == v.lower(),
    },
    search=(Hospital.name, Hospital.city, Hospital.country, Hospital.specializations),
    sortable=("created_at", "name", "country", "city"),
    translated=("name", "description"),
)

TAG = {"name": "hospitals", "description": "Partner hospitals, their doctors and treatments"}
ORDER = 10

router = crud_router(hospitals, prefix="/hospitals", tag="hospitals")
