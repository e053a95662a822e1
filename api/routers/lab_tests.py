"""/lab-tests: tests a doctor (or coordinator) orders for a patient, tracked by a readable
number; the lab's hospital admin moves them along and uploads the result file."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import File, UploadFile
from fastapi.responses import StreamingResponse
from sqlalchemy import Select, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.providers.storage import new_key
from api.crud import Access, Resource, RowId, crud_router, get_visible
from api.deps import CurrentUser, DbSession, SettingsDep, StorageDep
from api.envelope import Envelope, ok
from api.schemas.lab_tests import LabTestCreate, LabTestFilters, LabTestOut, LabTestUpdate
from api.services import care
from domain.access import Role
from domain.errors import Conflict, Forbidden, NotFound
from domain.files import MEDICAL, content_disposition, download_name
from domain.models.care import LabTest
from domain.models.catalog import Doctor, Hospital, Laboratory
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


def administered_lab_ids(user: User) -> Select[Any]:
    return (
        select(Laboratory.id)
        .join(Hospital, Hospital.id == Laboratory.hospital_id)
        .where(Hospital.admin_user_id == user.id)
    )


class LabTestAccess(Access[LabTest]):
    """Patients read their own; doctors those they ordered and those of their patients;
    coordinators those of the patients whose bookings they coordinate; a hospital admin those
    sent to their hospital's labs; admins all."""

    create_roles = frozenset({Role.DOCTOR, Role.COORDINATOR, Role.ADMIN})

    def visible(self, user: User | None, stmt: Select[Any]) -> Select[Any]:
        if user is None:
            return stmt.where(false())
        role = user.user_type
        if role == Role.ADMIN:
            return stmt
        if role == Role.PATIENT:
            return stmt.where(LabTest.patient_id.in_(care.own_patient_ids(user)))
        if role == Role.DOCTOR and user.is_approved:
            return stmt.where(
                or_(
                    LabTest.doctor_id == care.caller_doctor_id(user),
                    LabTest.patient_id.in_(care.doctor_patient_ids(user)),
                )
            )
        if role == Role.COORDINATOR:
            return stmt.where(LabTest.patient_id.in_(care.coordinated_patient_ids(user)))
        if role == Role.HOSPITAL_ADMIN and user.is_approved:
            return stmt.where(LabTest.lab_id.in_(administered_lab_ids(user)))
        return stmt.where(false())

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
    create=LabTestCreate,
    update=LabTestUpdate,
    access=LabTestAccess(),
    filters=LabTestFilters,
    search=(LabTest.test_number, LabTest.test_name, LabTest.test_type),
    sortable=("created_at", "scheduled_date", "status", "test_number"),
)

TAG = {"name": "lab-tests", "description": "Lab tests and their results"}
ORDER = 42

router = crud_router(
    lab_tests, prefix="/lab-tests", tag="lab-tests", ops=("list", "get", "create", "update")
)


@router.delete(
    "/{id}",
    response_model=Envelope[None],
    summary="Delete a lab test (admin; or its ordering doctor while still only requested)",
    name="delete_lab_test",
)
async def delete_lab_test(
    row_id: RowId, db: DbSession, user: CurrentUser, storage: StorageDep
) -> dict[str, Any]:
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
    row_id: RowId,
    db: DbSession,
    user: CurrentUser,
    settings: SettingsDep,
    storage: StorageDep,
    file: Annotated[UploadFile, File(description="PDF, PNG, JPEG, GIF, WEBP or DICOM")],
) -> dict[str, Any]:
    row = await get_visible(db, lab_tests, user, row_id)
    await lab_tests.access.before_change(db, user, row)
    if not user.is_approved:
        raise Forbidden(
            "An administrator has not approved this account yet", code="ACCOUNT_NOT_APPROVED"
        )
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
