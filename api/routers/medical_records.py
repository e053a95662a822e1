"""/medical-records: documents about a patient's body (scans, reports, discharge summaries),
uploaded by the patient or their care team, read by that care team, downloaded access-checked."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.providers.storage import Storage, new_key
from api import policies
from api.deps import CurrentUser, DbSession, Paging, RequestLocale, SettingsDep, StorageDep
from api.envelope import Envelope, Page, ok
from api.resources import (
    SORT_HELP,
    Access,
    Resource,
    RowId,
    Search,
    changeable,
    creator,
    get_visible,
    list_page,
    render_one,
    update_row,
)
from api.schemas.medical_records import (
    MedicalRecordFilters,
    MedicalRecordOut,
    MedicalRecordUpdate,
)
from api.services import care
from domain.access import Role
from domain.errors import Forbidden, Invalid, NotFound
from domain.files import MEDICAL, content_disposition, download_name
from domain.models.appointments import Appointment
from domain.models.care import MedicalRecord
from domain.models.users import Patient, User
from domain.vocabulary import RecordType

ENTITY_TYPE = "medical_record"
METADATA_FIELDS = {
    "record_type",
    "title",
    "description",
    "record_date",
    "appointment_id",
    "is_shared_with_doctors",
}


class MedicalRecordAccess(Access[MedicalRecord]):
    """Patients see their own records; doctors those of their patients that are shared with
    doctors (and those they uploaded); coordinators those of the patients whose bookings they
    coordinate; admins all. Hospital admins and the public see none."""

    create_roles = frozenset({Role.PATIENT, Role.DOCTOR, Role.COORDINATOR, Role.ADMIN})

    def visible(self, user: User | None, stmt: Select[Any]) -> Select[Any]:
        return stmt.where(
            policies.care_scope(
                user,
                MedicalRecord.patient_id,
                uploader_col=MedicalRecord.uploaded_by_user_id,
                shared_with_doctors=MedicalRecord.is_shared_with_doctors.is_(True),
            )
        )

    def writable_fields(self, user: User) -> set[str] | None:
        if user.user_type == Role.ADMIN:
            return None
        if user.user_type == Role.PATIENT:
            return METADATA_FIELDS
        # Whether doctors see a record is the patient's choice.
        return METADATA_FIELDS - {"is_shared_with_doctors"}

    async def before_change(self, db: AsyncSession, user: User, row: Any) -> None:
        """The patient, coordinators of their bookings and admins may change any visible record;
        a doctor only the records they uploaded."""
        if user.user_type == Role.DOCTOR and row.uploaded_by_user_id != user.id:
            raise Forbidden("Only who uploaded this record may change it", code="NOT_UPLOADER")

    async def after_change(self, db: AsyncSession, user: User, row: Any) -> None:
        if row.appointment_id is not None:
            await appointment_of_patient(db, row.appointment_id, row.patient_id)


def may_delete(user: User, record: MedicalRecord, own_patient: bool) -> bool:
    return user.user_type == Role.ADMIN or own_patient or record.uploaded_by_user_id == user.id


async def appointment_of_patient(
    db: AsyncSession, appointment_id: uuid.UUID, patient_id: uuid.UUID
) -> None:
    found = await db.scalar(
        select(Appointment.id).where(
            Appointment.id == appointment_id, Appointment.patient_id == patient_id
        )
    )
    if found is None:
        raise Invalid(
            "The appointment is not one of this patient's", code="APPOINTMENT_NOT_OF_PATIENT"
        )


medical_records = Resource(
    model=MedicalRecord,
    name="medical_record",
    out=MedicalRecordOut,
    access=MedicalRecordAccess(),
    filter_rules={
        "date_from": lambda v: MedicalRecord.record_date >= v,
        "date_to": lambda v: MedicalRecord.record_date <= v,
    },
    search=(MedicalRecord.title, MedicalRecord.description),
    sortable=("created_at", "record_date", "record_type", "title"),
)


class MedicalRecordForm(BaseModel):
    record_type: RecordType
    title: str | None
    description: str | None
    record_date: date | None
    is_shared_with_doctors: bool
    appointment_id: uuid.UUID | None
    patient_id: uuid.UUID | None


def record_form(
    record_type: Annotated[RecordType, Form()],
    title: Annotated[str | None, Form(min_length=1, max_length=255)] = None,
    description: Annotated[str | None, Form(max_length=20_000)] = None,
    record_date: Annotated[date | None, Form()] = None,
    is_shared_with_doctors: Annotated[bool, Form()] = True,
    appointment_id: Annotated[uuid.UUID | None, Form()] = None,
    patient_id: Annotated[
        uuid.UUID | None, Form(description="Staff only; a patient's own is used for patients")
    ] = None,
) -> MedicalRecordForm:
    return MedicalRecordForm(
        record_type=record_type,
        title=title.strip() if title else None,
        description=description,
        record_date=record_date,
        is_shared_with_doctors=is_shared_with_doctors,
        appointment_id=appointment_id,
        patient_id=patient_id,
    )


RecordForm = Annotated[MedicalRecordForm, Depends(record_form)]
UploadedFile = Annotated[UploadFile, File(description="PDF, PNG, JPEG, GIF, WEBP or DICOM")]


async def record_patient(db: AsyncSession, user: User, requested: uuid.UUID | None) -> uuid.UUID:
    """Whose record this is: a patient's own, always; staff name a patient in their care."""
    role = user.user_type
    if role not in {r.value for r in medical_records.access.create_roles}:
        raise Forbidden("Your role may not upload medical records", code="ROLE_NOT_ALLOWED")
    if role == Role.PATIENT:
        own = await care.caller_patient_id(db, user)
        if requested is not None and requested != own:
            raise Forbidden(
                "Patients upload their own records only",
                code="FIELD_NOT_ALLOWED",
                details={"fields": ["patient_id"]},
            )
        return own
    if not user.is_approved:
        raise Forbidden(
            "An administrator has not approved this account yet", code="ACCOUNT_NOT_APPROVED"
        )
    if requested is None:
        raise Invalid("Name the patient (patient_id)", code="PATIENT_ID_REQUIRED")
    exists = await db.scalar(select(Patient.id).where(Patient.id == requested))
    if exists is None or not await care.in_care_team(db, user, requested):
        raise NotFound("Patient not found", code="PATIENT_NOT_FOUND")
    return requested


async def upload_record(
    request: Request,
    db: AsyncSession,
    storage: Storage,
    max_bytes: int,
    user: User,
    form: MedicalRecordForm,
    file: UploadFile,
) -> MedicalRecord:
    """Check who and what first, then the file, then keep the object and its rows together;
    finally tell a booking waiting for medical details (best effort)."""
    patient_id = await record_patient(db, user, form.patient_id)
    if form.appointment_id is not None:
        await appointment_of_patient(db, form.appointment_id, patient_id)
    data, kind, file_name = await care.accept_upload(file, allowed=MEDICAL, max_bytes=max_bytes)
    key = new_key("medical-records", patient_id)
    record = MedicalRecord(
        id=uuid.uuid4(),
        patient_id=patient_id,
        appointment_id=form.appointment_id,
        record_type=form.record_type.value,
        title=form.title or file_name,
        description=form.description,
        record_date=form.record_date,
        is_shared_with_doctors=form.is_shared_with_doctors,
        file_url=key,
        file_size=len(data),
        file_type=kind.mime,
        uploaded_by_user_id=user.id,
    )
    async with care.stored_together(
        db, storage, key=key, data=data, kind=kind, file_name=file_name, user=user
    ):
        db.add(record)
        await db.flush()
        db.add(
            care.media_row(
                key=key,
                data=data,
                kind=kind,
                file_name=file_name,
                user=user,
                entity_type=ENTITY_TYPE,
                entity_id=record.id,
            )
        )
    await care.signal_record_uploaded(request, db, patient_id, record.id)
    return record


TAG = {"name": "medical-records", "description": "Patients' medical documents"}

router = APIRouter(prefix="/medical-records", tags=["medical-records"])
Sort = Annotated[str | None, Query(pattern=medical_records.sort_pattern, description=SORT_HELP)]


@router.get("", summary="List medical-records", name="list_medical_record")
async def list_medical_records(
    db: DbSession,
    user: CurrentUser,
    paging: Paging,
    locale: RequestLocale,
    filters: Annotated[MedicalRecordFilters, Depends()],
    search: Search = None,
    sort: Sort = None,
) -> Page[MedicalRecordOut]:
    return await list_page(db, medical_records, user, paging, locale, filters, search, sort)


@router.get("/{id}", summary="One medical_record", name="get_medical_record")
async def get_medical_record(
    row_id: RowId, db: DbSession, user: CurrentUser, locale: RequestLocale
) -> Envelope[MedicalRecordOut]:
    row = await get_visible(db, medical_records, user, row_id)
    return ok(await render_one(db, medical_records, row, locale))


@router.patch("/{id}", summary="Change a medical_record", name="update_medical_record")
async def update_medical_record(
    row: Annotated[MedicalRecord, Depends(changeable(medical_records))],
    body: MedicalRecordUpdate,
    db: DbSession,
    user: CurrentUser,
) -> Envelope[MedicalRecordOut]:
    await update_row(db, medical_records, user, row, body.model_dump(exclude_unset=True))
    return ok(MedicalRecordOut.model_validate(row), "Medical record updated")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[MedicalRecordOut],
    summary="Upload a medical record (multipart: file + fields)",
    name="create_medical_record",
)
async def create_medical_record(
    user: Annotated[User, Depends(creator(medical_records))],
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    storage: StorageDep,
    form: RecordForm,
    file: UploadedFile,
) -> Envelope[MedicalRecordOut]:
    record = await upload_record(request, db, storage, settings.max_upload_bytes, user, form, file)
    return ok(MedicalRecordOut.model_validate(record), "Medical record uploaded")


@router.delete(
    "/{id}",
    response_model=Envelope[None],
    summary="Delete a medical record and its file (the patient, its uploader or an admin)",
    name="delete_medical_record",
)
async def delete_medical_record(
    row_id: RowId, db: DbSession, user: CurrentUser, storage: StorageDep
) -> Envelope[None]:
    record = await get_visible(db, medical_records, user, row_id)
    own = user.user_type == Role.PATIENT
    if not may_delete(user, record, own):
        raise Forbidden(
            "Only the patient, who uploaded it or an admin may delete this record",
            code="NOT_RECORD_OWNER",
        )
    media = await care.attached_media(db, ENTITY_TYPE, record.id)
    keys = [record.file_url, *(m.file_url for m in media)]
    await care.delete_with_objects(db, storage, [*media, record], list(dict.fromkeys(keys)))
    return ok(None, "Medical record deleted")


@router.get(
    "/{id}/download",
    response_class=StreamingResponse,
    summary="Download the record's file",
    name="download_medical_record",
)
async def download_medical_record(
    row_id: RowId, db: DbSession, user: CurrentUser, storage: StorageDep
) -> StreamingResponse:
    record = await get_visible(db, medical_records, user, row_id)
    media = await care.attached_media(db, ENTITY_TYPE, record.id)
    kind = care.kind_of(record.file_type)
    original = media[0].file_name if media else None
    name = download_name(original or record.title, kind, fallback="medical-record")
    stream = await care.open_download(storage, record.file_url)
    return StreamingResponse(
        stream,
        media_type=kind.mime if kind else "application/octet-stream",
        headers={
            "Content-Disposition": content_disposition(name),
            "Cache-Control": "private, no-store",
        },
    )
