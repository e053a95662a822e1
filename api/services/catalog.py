"""Catalog queries that span tables: what is listed publicly, a hospital's doctors and
treatments, a treatment's hospitals, a doctor's patients (the schedule is in
api/services/availability.py). Never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Pagination
from api.i18n import translations
from domain.models.appointments import Appointment
from domain.models.catalog import Doctor, Hospital, HospitalDoctor, HospitalTreatment, Treatment
from domain.models.users import Patient, User


def listed_hospital() -> ColumnElement[bool]:
    """A hospital the public sees: verified and active."""
    return and_(Hospital.is_active.is_(True), Hospital.is_verified.is_(True))


def listed_doctor() -> ColumnElement[bool]:
    """A doctor the public sees: their account is active and approved (the query joins User)."""
    return and_(User.is_active.is_(True), User.is_approved.is_(True))


def listed_treatment() -> ColumnElement[bool]:
    return Treatment.is_active.is_(True)


async def count(db: AsyncSession, stmt: Select[*tuple[Any, ...]]) -> int:
    total = await db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    return int(total or 0)


async def translate_nested(
    db: AsyncSession,
    items: list[dict[str, Any]],
    key: str,
    entity_type: str,
    fields: Sequence[str],
    locale: str | None,
) -> list[dict[str, Any]]:
    """Swap the text of each item's nested `key` object for its translation, where one exists."""
    if not locale or not items:
        return items
    by_id = await translations(db, entity_type, {item[key]["id"] for item in items}, fields, locale)
    for item in items:
        item[key].update(by_id.get(item[key]["id"], {}))
    return items


async def add_identity(db: AsyncSession, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Put each doctor's name and picture (kept on their user account) on the profile."""
    user_ids = {item["user_id"] for item in items}
    if not user_ids:
        return items
    rows = await db.execute(
        select(User.id, User.first_name, User.last_name, User.profile_picture).where(
            User.id.in_(user_ids)
        )
    )
    people = {row.id: row for row in rows}
    for item in items:
        person = people.get(item["user_id"])
        if person is not None:
            item.update(
                first_name=person.first_name,
                last_name=person.last_name,
                profile_picture=person.profile_picture,
            )
    return items


async def hospital_doctors(
    db: AsyncSession,
    hospital_id: uuid.UUID,
    *,
    listed_only: bool,
    paging: Pagination,
    locale: str | None,
    doctor_id: uuid.UUID | None = None,
) -> tuple[list[dict[str, Any]], int]:
    stmt = (
        select(HospitalDoctor, Doctor, User)
        .join(Doctor, Doctor.id == HospitalDoctor.doctor_id)
        .join(User, User.id == Doctor.user_id)
        .where(HospitalDoctor.hospital_id == hospital_id)
    )
    if listed_only:
        stmt = stmt.where(listed_doctor())
    if doctor_id is not None:
        stmt = stmt.where(HospitalDoctor.doctor_id == doctor_id)
    total = await count(db, stmt)
    rows = await db.execute(
        stmt.order_by(
            HospitalDoctor.is_primary.desc(), User.last_name.asc().nulls_last(), HospitalDoctor.id
        )
        .offset(paging.offset)
        .limit(paging.limit)
    )
    items = [
        {
            "id": link.id,
            "hospital_id": link.hospital_id,
            "doctor_id": link.doctor_id,
            "department": link.department,
            "is_primary": link.is_primary,
            "start_date": link.start_date,
            "end_date": link.end_date,
            "created_at": link.created_at,
            "doctor": {
                "id": doctor.id,
                "first_name": user.first_name,
                "last_name": user.last_name,
                "profile_picture": user.profile_picture,
                "specialty": doctor.specialty,
                "rating": doctor.rating,
                "consultation_fee": doctor.consultation_fee,
            },
        }
        for link, doctor, user in rows
    ]
    return await translate_nested(db, items, "doctor", "doctors", ("specialty",), locale), total


def _offer(offer: HospitalTreatment) -> dict[str, Any]:
    return {
        "id": offer.id,
        "hospital_id": offer.hospital_id,
        "treatment_id": offer.treatment_id,
        "base_price": offer.base_price,
        "currency": offer.currency,
        "duration_days": offer.duration_days,
        "success_rate": offer.success_rate,
        "description": offer.description,
        "inclusions": offer.inclusions,
        "exclusions": offer.exclusions,
        "is_available": offer.is_available,
        "created_at": offer.created_at,
        "updated_at": offer.updated_at,
    }


def treatment_card(treatment: Treatment) -> dict[str, Any]:
    return {
        "id": treatment.id,
        "name": treatment.name,
        "category": treatment.category,
        "description": treatment.description,
    }


def offer_item(offer: HospitalTreatment, treatment: Treatment) -> dict[str, Any]:
    return {**_offer(offer), "treatment": treatment_card(treatment)}


async def hospital_treatments(
    db: AsyncSession,
    hospital_id: uuid.UUID,
    *,
    listed_only: bool,
    paging: Pagination,
    locale: str | None,
) -> tuple[list[dict[str, Any]], int]:
    stmt = (
        select(HospitalTreatment, Treatment)
        .join(Treatment, Treatment.id == HospitalTreatment.treatment_id)
        .where(HospitalTreatment.hospital_id == hospital_id)
    )
    if listed_only:
        stmt = stmt.where(HospitalTreatment.is_available.is_(True), listed_treatment())
    total = await count(db, stmt)
    rows = await db.execute(
        stmt.order_by(Treatment.name, HospitalTreatment.id)
        .offset(paging.offset)
        .limit(paging.limit)
    )
    items = [offer_item(offer, treatment) for offer, treatment in rows]
    fields = ("name", "description")
    return await translate_nested(db, items, "treatment", "treatments", fields, locale), total


async def treatment_hospitals(
    db: AsyncSession,
    treatment_id: uuid.UUID,
    *,
    listed_only: bool,
    paging: Pagination,
    locale: str | None,
    country: str | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """The hospitals offering a treatment, cheapest first."""
    stmt = (
        select(HospitalTreatment, Hospital)
        .join(Hospital, Hospital.id == HospitalTreatment.hospital_id)
        .where(HospitalTreatment.treatment_id == treatment_id)
    )
    if listed_only:
        stmt = stmt.where(HospitalTreatment.is_available.is_(True), listed_hospital())
    if country:
        stmt = stmt.where(func.lower(Hospital.country) == country.lower())
    total = await count(db, stmt)
    rows = await db.execute(
        stmt.order_by(HospitalTreatment.base_price.asc().nulls_last(), HospitalTreatment.id)
        .offset(paging.offset)
        .limit(paging.limit)
    )
    items = [
        {
            **_offer(offer),
            "hospital": {
                "id": hospital.id,
                "name": hospital.name,
                "city": hospital.city,
                "country": hospital.country,
                "logo": hospital.logo,
                "is_verified": hospital.is_verified,
            },
        }
        for offer, hospital in rows
    ]
    fields = ("name",)
    return await translate_nested(db, items, "hospital", "hospitals", fields, locale), total


async def doctor_patients(
    db: AsyncSession,
    doctor_id: uuid.UUID,
    paging: Pagination,
    *,
    scope: ColumnElement[bool] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Each patient the doctor has an appointment with (those in `scope`), most recently seen
    first."""
    last = func.max(Appointment.scheduled_date)
    stmt = (
        select(
            Patient.id.label("patient_id"),
            Patient.user_id,
            User.first_name,
            User.last_name,
            User.email,
            User.phone,
            Patient.gender,
            Patient.date_of_birth,
            Patient.country,
            func.count(Appointment.id).label("appointments"),
            last.label("last_appointment_at"),
        )
        .select_from(Appointment)
        .join(Patient, Patient.id == Appointment.patient_id)
        .outerjoin(User, User.id == Patient.user_id)
        .where(Appointment.doctor_id == doctor_id, true() if scope is None else scope)
        .group_by(Patient.id, User.id)
    )
    total = await count(db, stmt)
    rows = await db.execute(
        stmt.order_by(last.desc(), Patient.id).offset(paging.offset).limit(paging.limit)
    )
    return [dict(row._mapping) for row in rows], total
