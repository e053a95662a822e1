"""Prescriptions over HTTP: a doctor writes one for an appointment of theirs (the patient comes
from the appointment), the care team reads it, only its prescriber changes it, only an admin
deletes it."""

from __future__ import annotations

import pytest

from domain.access import Role
from tests.builders.care_builders import add_appointment, person, team

PARACETAMOL = {
    "name": "Paracetamol",
    "dosage": "500mg",
    "frequency": "Twice daily",
    "duration": "7 days",
}


async def prescribe(client, who, appointment_id, **extra):
    body = {
        "appointment_id": str(appointment_id),
        "medications": [PARACETAMOL],
        "instructions": "Take after meals",
        "valid_until": "2030-12-15",
        **extra,
    }
    return await client.post("/prescriptions", json=body, headers=who.headers)


async def test_doctor_prescribes_for_own_appointment(client, sessionmaker, settings):
    t = await team(sessionmaker, settings)
    created = await prescribe(client, t.doctor, t.appointment.id)
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert data["patient_id"] == str(t.patient.patient_id)
    assert data["doctor_id"] == str(t.doctor.doctor_id)
    assert data["medications"] == [PARACETAMOL]
    assert data["is_dispensed"] is False


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        ("stranger_doctor", 404, "APPOINTMENT_NOT_FOUND"),
        ("patient", 403, "ROLE_NOT_ALLOWED"),
        ("coordinator", 403, "ROLE_NOT_ALLOWED"),
        ("hospital_admin", 403, "ROLE_NOT_ALLOWED"),
    ],
)
async def test_others_cannot_prescribe(client, sessionmaker, settings, who, status, code):
    t = await team(sessionmaker, settings)
    refused = await prescribe(client, t[who], t.appointment.id)
    assert refused.status_code == status
    assert refused.json()["error"]["code"] == code


async def test_unapproved_doctor_cannot_prescribe(client, sessionmaker, settings):
    t = await team(sessionmaker, settings)
    pending = await person(sessionmaker, settings, Role.DOCTOR, approved=False)
    appointment = await add_appointment(sessionmaker, t.patient.patient_id, pending.doctor_id)
    refused = await prescribe(client, pending, appointment.id)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "ACCOUNT_NOT_APPROVED"


async def test_medications_are_validated(client, sessionmaker, settings):
    t = await team(sessionmaker, settings)
    missing = await prescribe(client, t.doctor, t.appointment.id, medications=[{"name": "X"}])
    assert missing.status_code == 422
    assert {d["field"] for d in missing.json()["error"]["details"]} >= {
        "medications.0.dosage",
        "medications.0.frequency",
        "medications.0.duration",
    }
    empty = await prescribe(client, t.doctor, t.appointment.id, medications=[])
    assert empty.status_code == 422
    extra = await prescribe(
        client, t.doctor, t.appointment.id, medications=[{**PARACETAMOL, "price": 3}]
    )
    assert extra.status_code == 422


async def test_patient_id_sent_must_match_the_appointment(client, sessionmaker, settings):
    t = await team(sessionmaker, settings)
    mismatch = await prescribe(
        client, t.doctor, t.appointment.id, patient_id=str(t.other_patient.patient_id)
    )
    assert mismatch.status_code == 400
    assert mismatch.json()["error"]["code"] == "PRESCRIPTION_MISMATCH"
    same = await prescribe(client, t.doctor, t.appointment.id, patient_id=str(t.patient.patient_id))
    assert same.status_code == 201


async def test_cancelled_appointment_takes_no_prescription(client, sessionmaker, settings):
    t = await team(sessionmaker, settings)
    cancelled = await add_appointment(
        sessionmaker, t.patient.patient_id, t.doctor.doctor_id, status="cancelled"
    )
    refused = await prescribe(client, t.doctor, cancelled.id)
    assert refused.status_code == 409


@pytest.mark.parametrize(
    ("viewer", "sees"),
    [
        ("patient", True),
        ("other_patient", False),
        ("doctor", True),
        ("stranger_doctor", False),
        ("coordinator", True),
        ("other_coordinator", False),
        ("hospital_admin", False),
        ("admin", True),
    ],
)
async def test_access_matrix_for_reading(client, sessionmaker, settings, viewer, sees):
    t = await team(sessionmaker, settings)
    written = (await prescribe(client, t.doctor, t.appointment.id)).json()["data"]
    one = await client.get(f"/prescriptions/{written['id']}", headers=t[viewer].headers)
    listed = await client.get("/prescriptions", headers=t[viewer].headers)
    if sees:
        assert one.status_code == 200 and one.json()["data"]["instructions"] == "Take after meals"
        assert listed.json()["meta"]["total"] == 1
    else:
        assert one.status_code == 404 and "Paracetamol" not in one.text
        assert listed.json()["data"] == []
    assert (await client.get(f"/prescriptions/{written['id']}")).status_code == 401


async def test_only_the_prescriber_changes_it_and_only_admins_delete(
    client, sessionmaker, settings
):
    t = await team(sessionmaker, settings)
    written = (await prescribe(client, t.doctor, t.appointment.id)).json()["data"]
    url = f"/prescriptions/{written['id']}"
    for who, status in (("patient", 403), ("coordinator", 403), ("stranger_doctor", 404)):
        assert (
            await client.patch(url, json={"is_dispensed": True}, headers=t[who].headers)
        ).status_code == status, who
    changed = await client.patch(
        url, json={"is_dispensed": True, "instructions": "With water"}, headers=t.doctor.headers
    )
    assert changed.status_code == 200
    assert changed.json()["data"]["is_dispensed"] is True
    filtered = await client.get(
        "/prescriptions", params={"is_dispensed": "true"}, headers=t.patient.headers
    )
    assert filtered.json()["meta"]["total"] == 1
    assert (await client.delete(url, headers=t.doctor.headers)).status_code == 403
    assert (await client.delete(url, headers=t.admin.headers)).status_code == 200
    assert (await client.get(url, headers=t.admin.headers)).status_code == 404
