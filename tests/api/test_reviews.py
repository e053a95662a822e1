"""Reviews: patients review care they had; published reviews set the ratings everyone sees."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from temporalio.worker import Worker

from activities.scheduling import as_range
from domain.access import Role
from domain.models.appointments import Appointment
from domain.models.bookings import Booking
from domain.models.catalog import Doctor, Hospital
from domain.models.users import Patient
from tests.builders.users import create_user, headers_for


@pytest.fixture
def client(client: httpx.AsyncClient, worker: Worker) -> httpx.AsyncClient:
    """The API with the worker running: a published review moves its booking (a workflow signal)."""
    return client


async def care_for(sessionmaker, patient_user, doctor_user):
    """A hospital, a past appointment with the doctor and a booking there, for this patient."""
    from sqlalchemy import func, select

    async with sessionmaker() as db, db.begin():
        patient_id = await db.scalar(select(Patient.id).where(Patient.user_id == patient_user.id))
        doctor_id = await db.scalar(select(Doctor.id).where(Doctor.user_id == doctor_user.id))
        hospital = Hospital(id=uuid.uuid4(), name="Medipol", country="Turkey", is_verified=True)
        db.add(hospital)
        await db.flush()
        # A past appointment; a second one with the same doctor a day before (one doctor's
        # times never overlap).
        earlier = await db.scalar(
            select(func.count()).select_from(Appointment).where(Appointment.doctor_id == doctor_id)
        )
        when = datetime.now(UTC) - timedelta(days=1 + (earlier or 0))
        db.add(
            Appointment(
                id=uuid.uuid4(),
                appointment_number=f"MV-AP-{uuid.uuid4().hex[:8]}",
                patient_id=patient_id,
                doctor_id=doctor_id,
                scheduled_date=when,
                ends_at=when + timedelta(minutes=30),
                held_range=as_range(when, when + timedelta(minutes=30)),
            )
        )
        db.add(
            Booking(
                id=uuid.uuid4(),
                booking_number=f"MV-BK-{uuid.uuid4().hex[:8]}",
                patient_id=patient_id,
                hospital_id=hospital.id,
            )
        )
    return doctor_id, hospital.id


async def test_published_reviews_set_doctor_and_hospital_ratings(client, sessionmaker):
    admin = await create_user(sessionmaker, Role.ADMIN)
    doctor = await create_user(sessionmaker, Role.DOCTOR)
    first = await create_user(sessionmaker)
    second = await create_user(sessionmaker)
    doctor_id, hospital_id = await care_for(sessionmaker, first, doctor)
    await care_for(sessionmaker, second, doctor)
    admin_headers = headers_for(admin)

    ids = []
    for user, rating in ((first, 5), (second, 4)):
        headers = headers_for(user)
        made = await client.post(
            "/reviews",
            headers=headers,
            json={"doctor_id": str(doctor_id), "rating": rating, "review_text": "Kind and clear"},
        )
        assert made.status_code == 201, made.text
        assert made.json()["data"]["is_published"] is False
        ids.append(made.json()["data"]["id"])

    # Unpublished reviews are not public and do not count yet.
    assert (await client.get("/reviews", params={"doctor_id": str(doctor_id)})).json()["data"] == []
    for review_id in ids:
        verified = await client.patch(
            f"/reviews/{review_id}/verify", headers=admin_headers, json={}
        )
        assert verified.status_code == 200 and verified.json()["data"]["is_published"] is True

    public = await client.get("/reviews", params={"doctor_id": str(doctor_id)})
    assert public.json()["meta"]["total"] == 2
    async with sessionmaker() as db:
        row = await db.get(Doctor, doctor_id)
        assert row.rating == Decimal("4.50") and row.total_reviews == 2

    # A hospital review counts for the hospital.
    headers = headers_for(first)
    made = await client.post(
        "/reviews", headers=headers, json={"hospital_id": str(hospital_id), "rating": 3}
    )
    await client.patch(
        f"/reviews/{made.json()['data']['id']}/verify", headers=admin_headers, json={}
    )
    async with sessionmaker() as db:
        hospital = await db.get(Hospital, hospital_id)
        assert hospital.rating == Decimal("3.00") and hospital.total_reviews == 1

    # Deleting a published review takes it out of the rating.
    deleted = await client.delete(f"/reviews/{ids[0]}", headers=admin_headers)
    assert deleted.status_code == 200
    async with sessionmaker() as db:
        row = await db.get(Doctor, doctor_id)
        assert row.rating == Decimal("4.00") and row.total_reviews == 1


async def test_patient_cannot_review_care_they_never_had_or_publish_themselves(
    client, sessionmaker
):
    doctor = await create_user(sessionmaker, Role.DOCTOR)
    stranger = await create_user(sessionmaker)
    async with sessionmaker() as db:
        from sqlalchemy import select

        doctor_id = await db.scalar(select(Doctor.id).where(Doctor.user_id == doctor.id))
    headers = headers_for(stranger)
    refused = await client.post(
        "/reviews",
        headers=headers,
        json={"doctor_id": str(doctor_id), "rating": 1, "review_text": "never met them"},
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "NO_CARE_RELATIONSHIP"
    published = await client.post(
        "/reviews",
        headers=headers,
        json={"doctor_id": str(doctor_id), "rating": 5, "is_published": True},
    )
    assert published.status_code == 422
    bad = await client.post(
        "/reviews", headers=headers, json={"doctor_id": str(doctor_id), "rating": 6}
    )
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "rating"
    nobody = await client.post("/reviews", headers=headers, json={"rating": 4})
    assert nobody.status_code == 422


async def test_edited_review_goes_back_to_moderation(client, sessionmaker):
    admin = await create_user(sessionmaker, Role.ADMIN)
    doctor = await create_user(sessionmaker, Role.DOCTOR)
    patient = await create_user(sessionmaker)
    other = await create_user(sessionmaker)
    doctor_id, _ = await care_for(sessionmaker, patient, doctor)
    headers = headers_for(patient)
    review_id = (
        await client.post(
            "/reviews", headers=headers, json={"doctor_id": str(doctor_id), "rating": 5}
        )
    ).json()["data"]["id"]
    await client.patch(f"/reviews/{review_id}/verify", headers=headers_for(admin), json={})
    intruder = headers_for(other)
    assert (
        await client.patch(f"/reviews/{review_id}", headers=intruder, json={"rating": 1})
    ).status_code == 403
    edited = await client.patch(f"/reviews/{review_id}", headers=headers, json={"rating": 2})
    assert edited.status_code == 200
    assert edited.json()["data"]["is_published"] is False
    async with sessionmaker() as db:
        row = await db.get(Doctor, doctor_id)
        assert row.total_reviews == 0 and row.rating == Decimal("0.00")
