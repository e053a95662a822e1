"""/packages: bundles of treatment, stay and travel sold at one price in one country. Public
reads, admin writes; inactive packages are hidden from everyone but admins; name and description
are translated.

List filters: country (any case), duration (packages of AT MOST that many days), price_min and
price_max (on base_price, inclusive, decimals)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from sqlalchemy import Select, func

from api.crud import (
    SORT_HELP,
    Access,
    MaybeUser,
    RequestLocale,
    Resource,
    crud_router,
    list_rows,
    render,
)
from api.deps import DbSession, Paging
from api.envelope import Page, page
from api.schemas.hospitals import Text100
from api.schemas.packages import (
    PackageCreate,
    PackageFilters,
    PackageOut,
    PackageUpdate,
)
from domain.access import Role
from domain.models.catalog import Package
from domain.models.users import User


class PackageAccess(Access[Package]):
    public_read = True

    def visible(self, user: User | None, stmt: Select[Any]) -> Select[Any]:
        if user is not None and user.user_type == Role.ADMIN:
            return stmt
        return stmt.where(Package.is_active.is_(True))


packages = Resource(
    model=Package,
    name="package",
    out=PackageOut,
    create=PackageCreate,
    update=PackageUpdate,
    access=PackageAccess(),
    filters=PackageFilters,
    filter_rules={
        "country": lambda v: func.lower(Package.country) == v.lower(),
        "duration": lambda v: Package.duration_days <= v,
        "price_min": lambda v: Package.base_price >= v,
        "price_max": lambda v: Package.base_price <= v,
    },
    search=(Package.name, Package.country, Package.description),
    sortable=("created_at", "name", "base_price", "duration_days"),
    translated=("name", "description"),
)

TAG = {"name": "packages", "description": "Treatment, stay and travel packages"}
ORDER = 13

router = crud_router(packages, prefix="/packages", tag="packages")
SORT_PATTERN = "^-?(" + "|".join(packages.sortable) + ")$"


@router.get(
    "/by-country/{country}",
    response_model=Page[PackageOut],
    summary="The packages of one country (public)",
)
async def list_by_country(
    country: Annotated[Text100, Path()],
    db: DbSession,
    user: MaybeUser,
    paging: Paging,
    locale: RequestLocale,
    sort: Annotated[str | None, Query(pattern=SORT_PATTERN, description=SORT_HELP)] = None,
) -> dict[str, Any]:
    filters = PackageFilters(country=country)
    rows, total = await list_rows(db, packages, user, paging, filters, None, sort)
    items = await render(db, packages, rows, locale)
    return page(items, page=paging.page, limit=paging.limit, total=total)
