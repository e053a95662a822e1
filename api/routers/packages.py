"""/packages: bundles of treatment, stay and travel sold at one price in one country. Public
reads, admin writes; inactive packages are hidden from everyone but admins; name and description
are translated.

List filters: country (any case), duration (packages of AT MOST that many days), price_min and
price_max (on base_price, inclusive, decimals)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, status
from sqlalchemy import Select, func

from api.deps import CurrentUser, DbSession, MaybeUser, Paging, RequestLocale
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
    access=PackageAccess(),
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

router = APIRouter(prefix="/packages", tags=["packages"])
Sort = Annotated[str | None, Query(pattern=packages.sort_pattern, description=SORT_HELP)]


@router.get("", summary="List packages", name="list_package")
async def list_packages(
    db: DbSession,
    user: MaybeUser,
    paging: Paging,
    locale: RequestLocale,
    filters: Annotated[PackageFilters, Depends()],
    search: Search = None,
    sort: Sort = None,
) -> Page[PackageOut]:
    return await list_page(db, packages, user, paging, locale, filters, search, sort)


@router.get("/{id}", summary="One package", name="get_package")
async def get_package(
    row_id: RowId, db: DbSession, user: MaybeUser, locale: RequestLocale
) -> Envelope[PackageOut]:
    row = await get_visible(db, packages, user, row_id)
    return ok(await render_one(db, packages, row, locale))


@router.post(
    "", status_code=status.HTTP_201_CREATED, summary="Create a package", name="create_package"
)
async def create_package(
    user: Annotated[User, Depends(creator(packages))], body: PackageCreate, db: DbSession
) -> Envelope[PackageOut]:
    row = await create_row(db, packages, user, body.model_dump(exclude_unset=True))
    return ok(PackageOut.model_validate(row), "Package created")


@router.patch("/{id}", summary="Change a package", name="update_package")
async def update_package(
    row: Annotated[Package, Depends(changeable(packages))],
    body: PackageUpdate,
    db: DbSession,
    user: CurrentUser,
) -> Envelope[PackageOut]:
    await update_row(db, packages, user, row, body.model_dump(exclude_unset=True))
    return ok(PackageOut.model_validate(row), "Package updated")


@router.delete("/{id}", summary="Delete a package", name="delete_package")
async def delete_package(
    row: Annotated[Package, Depends(changeable(packages))], db: DbSession, user: CurrentUser
) -> Envelope[None]:
    return ok(None, await delete_row(db, packages, user, row))


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
    sort: Sort = None,
) -> Page[PackageOut]:
    filters = PackageFilters(country=country)
    return await list_page(db, packages, user, paging, locale, filters, None, sort)
