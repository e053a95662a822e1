"""/treatments: the catalog of treatments (public reads, admin writes) and, per treatment, the
hospitals that offer it at their price. Inactive treatments are hidden from everyone but admins;
name and description are translated."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy import Select, func

from api.deps import CurrentUser, DbSession, MaybeUser, Paging, RequestLocale
from api.envelope import Envelope, Page, ok, page
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
    access=TreatmentAccess(),
    filter_rules={"category": lambda v: func.lower(Treatment.category) == v.lower()},
    search=(Treatment.name, Treatment.category, Treatment.description),
    sortable=("created_at", "name", "category", "duration_days"),
    translated=("name", "description"),
)

TAG = {"name": "treatments", "description": "Treatments and the hospitals that offer them"}

router = APIRouter(prefix="/treatments", tags=["treatments"])
Sort = Annotated[str | None, Query(pattern=treatments.sort_pattern, description=SORT_HELP)]


@router.get("", summary="List treatments", name="list_treatment")
async def list_treatments(
    db: DbSession,
    user: MaybeUser,
    paging: Paging,
    locale: RequestLocale,
    filters: Annotated[TreatmentFilters, Depends()],
    search: Search = None,
    sort: Sort = None,
) -> Page[TreatmentOut]:
    return await list_page(db, treatments, user, paging, locale, filters, search, sort)


@router.get("/{id}", summary="One treatment", name="get_treatment")
async def get_treatment(
    row_id: RowId, db: DbSession, user: MaybeUser, locale: RequestLocale
) -> Envelope[TreatmentOut]:
    return ok(
        await render_one(db, treatments, await get_visible(db, treatments, user, row_id), locale)
    )


@router.post(
    "", status_code=status.HTTP_201_CREATED, summary="Create a treatment", name="create_treatment"
)
async def create_treatment(
    user: Annotated[User, Depends(creator(treatments))], body: TreatmentCreate, db: DbSession
) -> Envelope[TreatmentOut]:
    row = await create_row(db, treatments, user, body.model_dump(exclude_unset=True))
    return ok(TreatmentOut.model_validate(row), "Treatment created")


@router.patch("/{id}", summary="Change a treatment", name="update_treatment")
async def update_treatment(
    row: Annotated[Treatment, Depends(changeable(treatments))],
    body: TreatmentUpdate,
    db: DbSession,
    user: CurrentUser,
) -> Envelope[TreatmentOut]:
    await update_row(db, treatments, user, row, body.model_dump(exclude_unset=True))
    return ok(TreatmentOut.model_validate(row), "Treatment updated")


@router.delete("/{id}", summary="Delete a treatment", name="delete_treatment")
async def delete_treatment(
    row: Annotated[Treatment, Depends(changeable(treatments))], db: DbSession, user: CurrentUser
) -> Envelope[None]:
    return ok(None, await delete_row(db, treatments, user, row))


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
) -> Page[Any]:
    treatment = await get_visible(db, treatments, user, row_id)
    admin = user is not None and user.user_type == Role.ADMIN
    items, total = await catalog.treatment_hospitals(
        db, treatment.id, listed_only=not admin, paging=paging, locale=locale, country=country
    )
    return page(items, page=paging.page, limit=paging.limit, total=total)
