"""/upload: store an image or a document (checked by content, never by name) and answer with its
media record; /upload/medical-record is the same upload as POST /medical-records."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile, status

from activities.providers.storage import Storage, new_key
from api.deps import CurrentUser, DbSession, SettingsDep, StorageDep
from api.envelope import Envelope, ok
from api.resources import creator
from api.routers.medical_records import RecordForm, UploadedFile, medical_records, upload_record
from api.schemas.media import MediaOut
from api.schemas.medical_records import MedicalRecordOut
from api.schemas.upload import ENTITY_TYPES
from api.services import care
from domain.files import DOCUMENTS, IMAGES, FileKind
from domain.models.users import User

TAG = {"name": "upload", "description": "File uploads (multipart/form-data)"}

router = APIRouter(prefix="/upload", tags=["upload"])
# Whose role may upload medical records, checked before the form is read.
RecordUploader = Annotated[User, Depends(creator(medical_records))]

EntityType = Annotated[
    str | None,
    Form(
        pattern="^(" + "|".join(ENTITY_TYPES) + ")$",
        description="What the file is for: " + ", ".join(ENTITY_TYPES),
    ),
]
EntityId = Annotated[uuid.UUID | None, Form()]


async def store(
    db: DbSession,
    storage: Storage,
    max_bytes: int,
    user: User,
    file: UploadFile,
    *,
    folder: str,
    allowed: frozenset[FileKind],
    entity_type: str | None,
    entity_id: uuid.UUID | None,
) -> Envelope[MediaOut]:
    data, kind, file_name = await care.accept_upload(file, allowed=allowed, max_bytes=max_bytes)
    key = new_key(folder, user.id)
    row = care.media_row(
        key=key,
        data=data,
        kind=kind,
        file_name=file_name,
        user=user,
        entity_type=entity_type,
        entity_id=entity_id,
    )
    async with care.stored_together(
        db, storage, key=key, data=data, kind=kind, file_name=file_name, user=user
    ):
        db.add(row)
    return ok(MediaOut.model_validate(row), "File uploaded")


@router.post(
    "/image",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[MediaOut],
    summary="Upload an image (PNG, JPEG, GIF, WEBP)",
)
async def upload_image(
    db: DbSession,
    user: CurrentUser,
    settings: SettingsDep,
    storage: StorageDep,
    file: Annotated[UploadFile, File(description="PNG, JPEG, GIF or WEBP")],
    entity_type: EntityType = None,
    entity_id: EntityId = None,
) -> Envelope[MediaOut]:
    return await store(
        db,
        storage,
        settings.max_upload_bytes,
        user,
        file,
        folder="images",
        allowed=IMAGES,
        entity_type=entity_type,
        entity_id=entity_id,
    )


@router.post(
    "/document",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[MediaOut],
    summary="Upload a document (PDF, or a PNG/JPEG scan)",
)
async def upload_document(
    db: DbSession,
    user: CurrentUser,
    settings: SettingsDep,
    storage: StorageDep,
    file: Annotated[UploadFile, File(description="PDF, PNG or JPEG")],
    entity_type: EntityType = None,
    entity_id: EntityId = None,
) -> Envelope[MediaOut]:
    return await store(
        db,
        storage,
        settings.max_upload_bytes,
        user,
        file,
        folder="documents",
        allowed=DOCUMENTS,
        entity_type=entity_type,
        entity_id=entity_id,
    )


@router.post(
    "/medical-record",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[MedicalRecordOut],
    summary="Upload a medical record (same as POST /medical-records)",
)
async def upload_medical_record(
    user: RecordUploader,
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    storage: StorageDep,
    form: RecordForm,
    file: UploadedFile,
) -> Envelope[MedicalRecordOut]:
    record = await upload_record(request, db, storage, settings.max_upload_bytes, user, form, file)
    return ok(MedicalRecordOut.model_validate(record), "Medical record uploaded")
