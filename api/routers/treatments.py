"""/treatments: the catalog of treatments (public reads, admin writes) and, per treatment, the
hospitals that offer it at their price. Inactive treatments are hidden from everyone but admins;
name and description are translated."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from sqlalchemy import Select, func

from api.crud import Access, MaybeUser, RequestLocale, Resource, RowId, crud_router, get_visible
from api.deps import DbSession, Paging
from api.envelope import Page, page
from api.schemas.hospitals import Text100
from api.schemas.treatments import (
    TreatmentCreate,
    TreatmentFilters,
    TreatmentOfferOut,
    TreatmentOut,
    TreatmentUpdate,
)
from api.services import catalog
from domain.access import Role
from domain.models.catalog import Treatment
from domain.models.users import User


class TreatmentAccess(Access[Treatment]):
    public_read = True

    def visible(self, user: User | None, stmt: Select[Any]) -> Select[Any]:
        if user is not None and user.user_type == Role.ADMIN:
            return stmt
        return stmt.where(catalog.listed_treatment())


treatments = Resource(
    model=Treatment,
    name="treatment",
    out=TreatmentOut,
    create=TreatmentCreate,
    update=TreatmentUpdate,
    access=TreatmentAccess(),
    filters=TreatmentFilters,
    filter_rules={"category": lambda v: func.lower(Treatment.category) == v.lower()},
    search=(Treatment.name, Treatment.category, Treatment.description),
    sortable=("created_at", "name", "category", "duration_days"),
    translated=("name", "description"),
)

TAG = {"name": "treatments", "description": "Treatments and the hospitals that offer them"}
ORDER = 12

router = crud_router(treatments, prefix="/treatments", tag="treatments")


@router.get(
    "/{id}/hospitals",
    response_model=Page[TreatmentOfferOut],
    summary="The hospitals offering a treatment, cheapest first (public)",
)
async def list_treatment_hospitals(
    row_id: RowId,
    db: DbSession,
    user: MaybeUser,
    paging: Paging,
    locale: RequestLocale,
    country: Annotated[Text100 | None, Query()] = None,
) -> dict[str, Any]:
    treatment = await get_visible(db, treatments, user, row_id)
    admin = user is not None and user.user_type == Role.ADMIN
    items, total = await catalog.treatment_hospitals(
        db, treatment.id, listed_only=not admin, paging=paging, locale=locale, country=country
    )
    return page(items, page=paging.page, limit=paging.limit, total=total)
