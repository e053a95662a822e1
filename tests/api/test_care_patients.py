"""Patients over HTTP: who lists and reads which profile, medical fields only for the care
team, who changes a profile, and a patient's appointments, bookings, prescriptions, payments."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from domain.access import Role
from domain.models.payments import Payment
from tests.builders.care_builders import person, team

MEDICAL = {
    "medical_history": {"surgeries": ["appendectomy 2010"]},
    "allergies": ["penicillin"],
    "current_medications": ["metformin 500mg"],
}


async def with_medical(client, t):
    response = await client.patch(
        f"/patients/{t.patient.patient_id}",
        json={**MEDICAL, "country": "Kenya", "blood_group": "O+"},
        headers=t.patient.headers,
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


@pytest.mark.parametrize(
    ("viewer", "status", "medical"),
    [
        ("patient", 200, True),
        ("other_patient", 404, False),
        ("doctor", 200, True),
        ("stranger_doctor", 404, False),
        ("coordinator", 200, True),
        ("other_coordinator", 200, False),
        ("hospital_admin", 200, False),
        ("admin", 200, True),
    ],
)
async def test_profile_access_and_medical_fields(
    client, sessionmaker, settings, viewer, status, medical
):
    t = await team(sessionmaker, settings)
    own = await with_medical(client, t)
    assert own["allergies"] == ["penicillin"] and own["medical_visible"] is True
    response = await client.get(f"/patients/{t.patient.patient_id}", headers=t[viewer].headers)
    assert response.status_code == status
    if status == 404:
        assert "penicillin" not in response.text and "Kenya" not in response.text
        return
    data = response.json()["data"]
    assert data["country"] == "Kenya"
    assert data["first_name"] == "Patient"
    assert data["medical_visible"] is medical
    if medical:
        assert data["allergies"] == ["penicillin"]
        assert data["medical_history"] == MEDICAL["medical_history"]
    else:
        assert "penicillin" not in response.text and "metformin" not in response.text
        assert data["medical_history"] is None and data["current_medications"] is None


async def test_anonymous_is_refused(client, sessionmaker, settings):
    t = await team(sessionmaker, settings)
    assert (await client.get("/patients")).status_code == 401
    assert (await client.get(f"/patients/{t.patient.patient_id}")).status_code == 401
    for sub in ("appointments", "bookings", "medical-records", "prescriptions", "payments"):
        assert (await client.get(f"/patients/{t.patient.patient_id}/{sub}")).status_code == 401


async def test_list_scopes_and_hides_medical_fields_per_row(client, sessionmaker, settings):
    t = await team(sessionmaker, settings)
    await with_medical(client, t)
    everyone = await client.get("/patients", headers=t.other_coordinator.headers)
    assert everyone.json()["meta"]["total"] == 2
    assert "penicillin" not in everyone.text
    mine = await client.get("/patients", headers=t.coordinator.headers)
    by_id = {p["id"]: p for p in mine.json()["data"]}
    assert by_id[str(t.patient.patient_id)]["allergies"] == ["penicillin"]
    assert by_id[str(t.other_patient.patient_id)]["medical_visible"] is False
    own = await client.get("/patients", headers=t.patient.headers)
    assert [p["id"] for p in own.json()["data"]] == [str(t.patient.patient_id)]
    doctors = await client.get("/patients", headers=t.doctor.headers)
    assert [p["id"] for p in doctors.json()["data"]] == [str(t.patient.patient_id)]
    kenya = await client.get("/patients", params={"country": "Kenya"}, headers=t.admin.headers)
    assert kenya.json()["meta"]["total"] == 1
    found = await client.get(
        "/patients", params={"search": t.patient.user.email[:12]}, headers=t.admin.headers
    )
    assert [p["id"] for p in found.json()["data"]] == [str(t.patient.patient_id)]


async def test_only_the_patient_and_admins_change_a_profile(client, sessionmaker, settings):
    t = await team(sessionmaker, settings)
    url = f"/patients/{t.patient.patient_id}"
    for who, status in (("doctor", 403), ("coordinator", 403), ("other_patient", 404)):
        response = await client.patch(url, json={"city": "X"}, headers=t[who].headers)
        assert response.status_code == status, who
    moved = await client.patch(url, json={"user_id": str(uuid.uuid4())}, headers=t.patient.headers)
    assert moved.status_code == 422  # not a field of the update at all
    bad = await client.patch(url, json={"blood_group": "Z"}, headers=t.patient.headers)
    assert bad.status_code == 422
    by_admin = await client.patch(url, json={"city": "Nairobi"}, headers=t.admin.headers)
    assert by_admin.status_code == 200 and by_admin.json()["data"]["city"] == "Nairobi"


async def test_create_profile_for_own_account_or_as_admin(client, sessionmaker, settings):
    t = await team(sessionmaker, settings)
    again = await client.post("/patients", json={"city": "Lagos"}, headers=t.patient.headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "PATIENT_EXISTS"
    other = await client.post(
        "/patients", json={"user_id": str(t.other_patient.user.id)}, headers=t.patient.headers
    )
    assert other.status_code == 403
    refused = await client.post("/patients", json={}, headers=t.coordinator.headers)
    assert refused.status_code == 403
    not_patient = await client.post(
        "/patients", json={"user_id": str(t.doctor.user.id)}, headers=t.admin.headers
    )
    assert not_patient.status_code == 400
    assert not_patient.json()["error"]["code"] == "USER_NOT_PATIENT"


async def test_admin_deletes_a_patient_only_when_nothing_refers_to_it(
    client, sessionmaker, settings
):
    t = await team(sessionmaker, settings)
    in_use = await client.delete(f"/patients/{t.patient.patient_id}", headers=t.admin.headers)
    assert in_use.status_code == 409 and in_use.json()["error"]["code"] == "PATIENT_IN_USE"
    lone = await person(sessionmaker, settings, Role.PATIENT)
    refused = await client.delete(f"/patients/{lone.patient_id}", headers=lone.headers)
    assert refused.status_code == 403
    deleted = await client.delete(f"/patients/{lone.patient_id}", headers=t.admin.headers)
    assert deleted.status_code == 200
    assert (
        await client.get(f"/patients/{lone.patient_id}", headers=t.admin.headers)
    ).status_code == 404


async def add_payment(sessionmaker, booking) -> Payment:
    async with sessionmaker() as db, db.begin():
        row = Payment(
            id=uuid.uuid4(),
            transaction_id="MV-TX-" + uuid.uuid4().hex[:10],
            booking_id=booking.id,
            patient_id=booking.patient_id,
            amount=Decimal("1200.00"),
            currency="USD",
            payment_gateway="stripe",
        )
        db.add(row)
    return row


@pytest.mark.parametrize(
    ("viewer", "expected"),
    [
        ("patient", {"appointments": 1, "bookings": 1, "prescriptions": 1, "payments": 1}),
        ("doctor", {"appointments": 1, "bookings": 0, "prescriptions": 1, "payments": 0}),
        ("coordinator", {"appointments": 1, "bookings": 1, "prescriptions": 1, "payments": 1}),
        # Staff schedule teleconsultations for any booking, so every coordinator sees the
        # appointments (policies.appointment_scope); the care records stay the care team's.
        (
            "other_coordinator",
            {"appointments": 1, "bookings": 0, "prescriptions": 0, "payments": 0},
        ),
        ("hospital_admin", {"appointments": 0, "bookings": 1, "prescriptions": 0, "payments": 0}),
        ("admin", {"appointments": 1, "bookings": 1, "prescriptions": 1, "payments": 1}),
    ],
)
async def test_what_each_role_sees_of_a_patient(client, sessionmaker, settings, viewer, expected):
    t = await team(sessionmaker, settings)
    await add_payment(sessionmaker, t.booking)
    written = await client.post(
        "/prescriptions",
        json={
            "appointment_id": str(t.appointment.id),
            "medications": [
                {"name": "Paracetamol", "dosage": "500mg", "frequency": "2/day", "duration": "7d"}
            ],
        },
        headers=t.doctor.headers,
    )
    assert written.status_code == 201, written.text
    for sub, count in expected.items():
        response = await client.get(
            f"/patients/{t.patient.patient_id}/{sub}", headers=t[viewer].headers
        )
        assert response.status_code == 200, (sub, response.text)
        assert response.json()["meta"]["total"] == count, sub
    for who in ("other_patient", "stranger_doctor"):
        hidden = await client.get(
            f"/patients/{t.patient.patient_id}/payments", headers=t[who].headers
        )
        assert hidden.status_code == 404
