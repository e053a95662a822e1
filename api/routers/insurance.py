"""/insurance: the insurance providers patients can name. Reading takes a login (it is not part
of the public catalog; patients and staff pick from it in forms); writing takes an admin.
Inactive providers are hidden from everyone but admins."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func

from api.crud import Access, Resource, crud_router
from api.schemas.insurance import InsuranceCreate, InsuranceFilters, InsuranceOut, InsuranceUpdate
from domain.access import Role
from domain.models.catalog import Insurance
from domain.models.users import User


class InsuranceAccess(Access[Insurance]):
    def visible(self, user: User | None, stmt: Select[Any]) -> Select[Any]:
        if user is not None and user.user_type == Role.ADMIN:
            return stmt
        return stmt.where(Insurance.is_active.is_(True))


insurance = Resource(
    model=Insurance,
    name="insurance",
    out=InsuranceOut,
    create=InsuranceCreate,
    update=InsuranceUpdate,
    access=InsuranceAccess(),
    filters=InsuranceFilters,
    filter_rules={"country": lambda v: func.lower(Insurance.country) == v.lower()},
    search=(Insurance.provider_name, Insurance.country),
    sortable=("created_at", "provider_name", "country"),
)

TAG = {"name": "insurance", "description": "Insurance providers"}
ORDER = 15

router = crud_router(insurance, prefix="/insurance", tag="insurance")
