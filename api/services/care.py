"""Care data services: who is in a patient's care team (the scope every clinical resource uses),
the file store of the API, keeping an upload and its rows together (both or neither), and the
booking a new medical record may complete."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Request, UploadFile
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.providers.storage import ObjectNotFound, Storage
from api import policies
from api.deps import get_temporal
from domain.booking import BookingStatus
from domain.errors import NotFound
from domain.files import BY_MIME, FileKind, check_upload, clean_name
from domain.models.bookings import Booking
from domain.models.content import Media
from domain.models.users import Patient, User
from runtime.logging import log
from workflows import booking as booking_workflow


async def in_care_team(db: AsyncSession, user: User, patient_id: uuid.UUID) -> bool:
    found = await db.scalar(
        select(Patient.id).where(Patient.id == patient_id, policies.care_scope(user, Patient.id))
    )
    return found is not None


async def care_team_among(
    db: AsyncSession, user: User, patient_ids: list[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these patients are in the caller's care (one query for a page of patients)."""
    if not patient_ids:
        return set()
    found = await db.scalars(
        select(Patient.id).where(Patient.id.in_(patient_ids), policies.care_scope(user, Patient.id))
    )
    return set(found)


async def caller_patient_id(db: AsyncSession, user: User) -> uuid.UUID:
    patient_id = await db.scalar(policies.own_patient_ids(user))
    if patient_id is None:
        raise NotFound("You have no patient profile yet", code="PATIENT_PROFILE_NOT_FOUND")
    return uuid.UUID(str(patient_id))


async def read_upload(file: UploadFile, max_bytes: int) -> bytes:
    """The uploaded bytes, reading at most one byte past the limit (so check_upload can say
    FILE_TOO_LARGE without holding a huge file in memory)."""
    chunks: list[bytes] = []
    total = 0
    while total <= max_bytes:
        chunk = await file.read(min(64 * 1024, max_bytes + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


async def accept_upload(
    file: UploadFile, *, allowed: frozenset[FileKind], max_bytes: int
) -> tuple[bytes, FileKind, str | None]:
    """The file's bytes, its real kind and its cleaned original name; FileRejected otherwise."""
    data = await read_upload(file, max_bytes)
    kind = check_upload(data, allowed=allowed, max_bytes=max_bytes)
    return data, kind, clean_name(file.filename)


def media_row(
    *,
    key: str,
    data: bytes,
    kind: FileKind,
    file_name: str | None,
    user: User,
    entity_type: str | None,
    entity_id: uuid.UUID | None,
) -> Media:
    return Media(
        id=uuid.uuid4(),
        file_name=file_name,
        file_url=key,
        file_type=kind.mime,
        file_size=len(data),
        entity_type=entity_type,
        entity_id=entity_id,
        uploaded_by_user_id=user.id,
    )


@asynccontextmanager
async def stored_together(
    db: AsyncSession,
    storage: Storage,
    *,
    key: str,
    data: bytes,
    kind: FileKind,
    file_name: str | None,
    user: User,
) -> AsyncIterator[None]:
    """Put the object, run the block that writes its rows, and commit: if anything fails the
    rows are rolled back and the object removed, so an upload leaves both or neither."""
    metadata = {"uploaded-by": str(user.id)}
    if file_name:
        metadata["original-name"] = file_name
    await storage.put(key, data, kind.mime, metadata)
    try:
        yield
        await db.flush()
        await db.commit()
    except BaseException:
        await db.rollback()
        await remove_objects(storage, [key])
        raise


async def remove_objects(storage: Storage, keys: list[str | None]) -> None:
    """Best effort: an object we fail to remove is logged (an orphan costs bytes, not safety)."""
    for key in keys:
        if not key:
            continue
        try:
            await storage.delete(key)
        except Exception as exc:
            log.warning("storage_delete_failed", key=key, error=type(exc).__name__)


async def delete_with_objects(
    db: AsyncSession, storage: Storage, rows: list[Any], keys: list[str | None]
) -> None:
    """Delete rows, commit, then remove their objects: a row never points at a missing file."""
    for row in rows:
        await db.delete(row)
    await db.flush()
    await db.commit()
    await remove_objects(storage, keys)


async def attached_media(db: AsyncSession, entity_type: str, entity_id: uuid.UUID) -> list[Media]:
    return list(
        await db.scalars(
            select(Media).where(Media.entity_type == entity_type, Media.entity_id == entity_id)
        )
    )


async def open_download(storage: Storage, key: str | None) -> AsyncIterator[bytes]:
    """The object's byte stream, checked to exist before the response starts."""
    if not key:
        raise NotFound("This record has no file", code="FILE_NOT_FOUND")
    try:
        await storage.head(key)
    except ObjectNotFound as exc:
        raise NotFound("The file is no longer stored", code="FILE_NOT_FOUND") from exc
    return storage.stream(key)


def kind_of(mime: str | None) -> FileKind | None:
    return BY_MIME.get(mime or "")


async def bookings_awaiting_records(db: AsyncSession, patient_id: uuid.UUID) -> list[uuid.UUID]:
    """The patient's bookings in awaiting_medical_details: a new medical record is the event
    their workflows wait for (signal `record_uploaded`)."""
    rows = await db.scalars(
        select(Booking.id).where(
            Booking.patient_id == patient_id,
            Booking.status == BookingStatus.AWAITING_MEDICAL_DETAILS.value,
        )
    )
    return list(rows)


async def signal_record_uploaded(
    request: Request, db: AsyncSession, patient_id: uuid.UUID, record_id: uuid.UUID
) -> None:
    """Best effort, after the record is committed: tell each awaiting booking's workflow. A
    failure is logged, never the upload's failure (the record is already kept)."""
    try:
        booking_ids = await bookings_awaiting_records(db, patient_id)
        if not booking_ids:
            return
        client = await get_temporal(request)
        for booking_id in booking_ids:
            await booking_workflow.signal_record_uploaded(client, booking_id, record_id)
    except Exception as exc:
        log.warning(
            "record_uploaded_signal_failed", record_id=str(record_id), error=type(exc).__name__
        )
