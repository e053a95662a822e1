"""/lab-tests: tests a doctor (or coordinator) orders for a patient, tracked by a readable
number; the lab's hospital admin moves them along and uploads the result file."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, UploadFile, status
from fastapi.responses import StreamingResponse
from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.providers.storage import new_key
from api import policies
from api.dates import check_horizon
from api.deps import CurrentUser, DbSession, Paging, RequestLocale, SettingsDep, StorageDep
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
    get_visible,
    list_page,
    render_one,
    update_row,
)
from api.schemas.lab_tests import LabTestCreate, LabTestFilters, LabTestOut, LabTestUpdate
from api.services import care
from domain.access import Role
from domain.errors import Conflict, Forbidden, NotFound
from domain.files import MEDICAL, content_disposition, download_name
from domain.models.care import LabTest
from domain.models.catalog import Doctor, Laboratory
from domain.models.users import Patient, User
from domain.vocabulary import LabTestStatus

ENTITY_TYPE = "lab_test"
ORDER_FIELDS = {
    "patient_id",
    "doctor_id",
    "lab_id",
    "test_type",
    "test_name",
    "scheduled_date",
    "status",
    "notes",
}
LAB_FIELDS = {"status", "scheduled_date", "notes"}


def new_test_number() -> str:
    """MV-LT-<year>-<8 random hex>: readable, unguessable, unique in practice (and by
    constraint: a clash is refused, never merged)."""
    return f"MV-LT-{datetime.now(UTC).year}-{secrets.token_hex(4).upper()}"


class LabTestAccess(Access[LabTest]):
    """Patients read their own; doctors those they ordered and those of their patients;
    coordinators those of the patients whose bookings they coordinate; a hospital admin those
    sent to their hospital's labs; admins all."""

    create_roles = frozenset({Role.DOCTOR, Role.COORDINATOR, Role.ADMIN})

    def visible(self, user: User | None, stmt: Select[Any]) -> Select[Any]:
        # The care team and the doctor who ordered it; the lab's hospital admin too.
        labs = select(Laboratory.id).where(policies.hospital_scope(user, Laboratory.hospital_id))
        return stmt.where(
            or_(
                policies.care_scope(user, LabTest.patient_id, LabTest.doctor_id),
                LabTest.lab_id.in_(labs),
            )
        )

    def writable_fields(self, user: User) -> set[str] | None:
        role = user.user_type
        if role == Role.ADMIN:
            return None
        if role == Role.COORDINATOR:
            return ORDER_FIELDS
        if role == Role.DOCTOR:
            return ORDER_FIELDS - {"doctor_id"}
        if role == Role.HOSPITAL_ADMIN:
            return LAB_FIELDS
        return set()

    async def before_create(self, db: AsyncSession, user: User, data: dict[str, Any]) -> None:
        await super().before_create(db, user, data)
        if not user.is_approved:
            raise Forbidden(
                "An administrator has not approved this account yet", code="ACCOUNT_NOT_APPROVED"
            )
        patient_id = data["patient_id"]
        exists = await db.scalar(select(Patient.id).where(Patient.id == patient_id))
        if exists is None or not await care.in_care_team(db, user, patient_id):
            raise NotFound("Patient not found", code="PATIENT_NOT_FOUND")
        if user.user_type == Role.DOCTOR:
            data["doctor_id"] = await db.scalar(select(Doctor.id).where(Doctor.user_id == user.id))
        data["test_number"] = new_test_number()

    async def before_change(self, db: AsyncSession, user: User, row: Any) -> None:
        """Anyone who sees the test may change it except patients; a doctor only the tests they
        ordered (the field whitelist narrows what each role may set)."""
        role = user.user_type
        if role == Role.PATIENT:
            raise Forbidden("Patients may not change lab tests", code="ROLE_NOT_ALLOWED")
        if role == Role.DOCTOR:
            own = await db.scalar(select(Doctor.id).where(Doctor.user_id == user.id))
            if row.doctor_id != own:
                raise Forbidden("Only the ordering doctor may change this test", code="NOT_ORDERER")


lab_tests = Resource(
    model=LabTest,
    name="lab_test",
    out=LabTestOut,
    access=LabTestAccess(),
    search=(LabTest.test_number, LabTest.test_name, LabTest.test_type),
    sortable=("created_at", "scheduled_date", "status", "test_number"),
)

TAG = {"name": "lab-tests", "description": "Lab tests and their results"}

router = APIRouter(prefix="/lab-tests", tags=["lab-tests"])
Sort = Annotated[str | None, Query(pattern=lab_tests.sort_pattern, description=SORT_HELP)]


@router.get("", summary="List lab-tests", name="list_lab_test")
async def list_lab_tests(
    db: DbSession,
    user: CurrentUser,
    paging: Paging,
    locale: RequestLocale,
    filters: Annotated[LabTestFilters, Depends()],
    search: Search = None,
    sort: Sort = None,
) -> Page[LabTestOut]:
    return await list_page(db, lab_tests, user, paging, locale, filters, search, sort)


@router.get("/{id}", summary="One lab_test", name="get_lab_test")
async def get_lab_test(
    row_id: RowId, db: DbSession, user: CurrentUser, locale: RequestLocale
) -> Envelope[LabTestOut]:
    row = await get_visible(db, lab_tests, user, row_id)
    return ok(await render_one(db, lab_tests, row, locale))


@router.post(
    "", status_code=status.HTTP_201_CREATED, summary="Create a lab_test", name="create_lab_test"
)
async def create_lab_test(
    user: Annotated[User, Depends(creator(lab_tests))],
    body: LabTestCreate,
    db: DbSession,
    settings: SettingsDep,
) -> Envelope[LabTestOut]:
    check_horizon(settings, scheduled_date=body.scheduled_date)
    row = await create_row(db, lab_tests, user, body.model_dump(exclude_unset=True))
    return ok(LabTestOut.model_validate(row), "Lab test created")


@router.patch("/{id}", summary="Change a lab_test", name="update_lab_test")
async def update_lab_test(
    row: Annotated[LabTest, Depends(changeable(lab_tests))],
    body: LabTestUpdate,
    db: DbSession,
    user: CurrentUser,
    settings: SettingsDep,
) -> Envelope[LabTestOut]:
    check_horizon(settings, scheduled_date=body.scheduled_date)
    await update_row(db, lab_tests, user, row, body.model_dump(exclude_unset=True))
    return ok(LabTestOut.model_validate(row), "Lab test updated")


async def test_for_result(
    row: Annotated[LabTest, Depends(changeable(lab_tests))], user: CurrentUser
) -> LabTest:
    """The lab test of the path, if the caller may record its result: before the file."""
    if user.user_type == Role.COORDINATOR:
        # Minimum necessary: a coordinator arranges care and never records clinical results.
        raise Forbidden("Coordinators may not record lab results", code="ROLE_NOT_ALLOWED")
    if not user.is_approved:
        raise Forbidden(
            "An administrator has not approved this account yet", code="ACCOUNT_NOT_APPROVED"
        )
    return row


@router.delete(
    "/{id}",
    response_model=Envelope[None],
    summary="Delete a lab test (admin; or its ordering doctor while still only requested)",
    name="delete_lab_test",
)
async def delete_lab_test(
    row_id: RowId, db: DbSession, user: CurrentUser, storage: StorageDep
) -> Envelope[None]:
    row = await get_visible(db, lab_tests, user, row_id)
    if user.user_type != Role.ADMIN:
        if user.user_type != Role.DOCTOR:
            raise Forbidden("Your role may not delete lab tests", code="ROLE_NOT_ALLOWED")
        await lab_tests.access.before_change(db, user, row)
        if row.status != LabTestStatus.REQUESTED:
            raise Conflict(
                "A test under way is cancelled (status), not deleted", code="LAB_TEST_IN_PROGRESS"
            )
    media = await care.attached_media(db, ENTITY_TYPE, row.id)
    keys = list(dict.fromkeys([row.result_url, *(m.file_url for m in media)]))
    await care.delete_with_objects(db, storage, [*media, row], keys)
    return ok(None, "Lab test deleted")


@router.post(
    "/{id}/result",
    response_model=Envelope[LabTestOut],
    summary="Upload the result file (multipart); the test becomes completed",
    name="upload_lab_test_result",
)
async def upload_result(
    row: Annotated[LabTest, Depends(test_for_result)],
    db: DbSession,
    user: CurrentUser,
    settings: SettingsDep,
    storage: StorageDep,
    file: Annotated[UploadFile, File(description="PDF, PNG, JPEG, GIF, WEBP or DICOM")],
) -> Envelope[LabTestOut]:
    if row.status == LabTestStatus.CANCELLED:
        raise Conflict("This test was cancelled", code="LAB_TEST_CANCELLED")
    data, kind, file_name = await care.accept_upload(
        file, allowed=MEDICAL, max_bytes=settings.max_upload_bytes
    )
    replaced = await care.attached_media(db, ENTITY_TYPE, row.id)
    old_keys = list(dict.fromkeys([row.result_url, *(m.file_url for m in replaced)]))
    key = new_key("lab-results", row.patient_id)
    async with care.stored_together(
        db, storage, key=key, data=data, kind=kind, file_name=file_name, user=user
    ):
        for media in replaced:
            await db.delete(media)
        row.result_url = key
        row.status = LabTestStatus.COMPLETED.value
        db.add(
            care.media_row(
                key=key,
                data=data,
                kind=kind,
                file_name=file_name,
                user=user,
                entity_type=ENTITY_TYPE,
                entity_id=row.id,
            )
        )
    await care.remove_objects(storage, [k for k in old_keys if k != key])
    return ok(LabTestOut.model_validate(row), "Result uploaded")


@router.get(
    "/{id}/result",
    response_class=StreamingResponse,
    summary="Download the result file",
    name="download_lab_test_result",
)
async def download_result(
    row_id: RowId, db: DbSession, user: CurrentUser, storage: StorageDep
) -> StreamingResponse:
    row = await get_visible(db, lab_tests, user, row_id)
    media = await care.attached_media(db, ENTITY_TYPE, row.id)
    original = next((m for m in media if m.file_url == row.result_url), None)
    kind = care.kind_of(original.file_type if original else None)
    if row.result_url is None:
        raise NotFound("No result has been uploaded yet", code="RESULT_NOT_FOUND")
    stream = await care.open_download(storage, row.result_url)
    name = download_name(original.file_name if original else None, kind, row.test_number)
    return StreamingResponse(
        stream,
        media_type=kind.mime if kind else "application/octet-stream",
        headers={
            "Content-Disposition": content_disposition(name),
            "Cache-Control": "private, no-store",
        },
    )
