"""The database itself refuses a doctor's overlapping appointments (SQL, bypassing the code), and
frees the time of a cancelled one; the seeded doctors' schedules answer with free slots."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from cli.seed import seed
from domain.access import Role
from domain.models import Doctor, Patient, User

START = datetime(2031, 3, 3, 9, 0, tzinfo=UTC)


async def _doctor_and_patient(sessionmaker):
    async with sessionmaker() as db, db.begin():
        doctor_user = User(
            email=f"d-{uuid.uuid4().hex[:8]}@example.com",
            password_hash="x",
            user_type=Role.DOCTOR.value,
        )
        patient_user = User(
            email=f"p-{uuid.uuid4().hex[:8]}@example.com",
            password_hash="x",
            user_type=Role.PATIENT.value,
        )
        db.add_all([doctor_user, patient_user])
        await db.flush()
        doctor = Doctor(user_id=doctor_user.id)
        patient = Patient(user_id=patient_user.id)
        db.add_all([doctor, patient])
    return doctor.id, patient.id


INSERT = text(
    "INSERT INTO appointments (appointment_number, patient_id, doctor_id, status,"
    " scheduled_date, ends_at, held_range)"
    " VALUES (:n, :p, :d, :s, :a, :b, tstzrange(:a, :h, '[)')) RETURNING id"
)


def _row(doctor, patient, start, minutes=30, buffer=0, status="requested"):
    return {
        "n": "AP-" + uuid.uuid4().hex[:10],
        "p": patient,
        "d": doctor,
        "s": status,
        "a": start,
        "b": start + timedelta(minutes=minutes),
        "h": start + timedelta(minutes=minutes + buffer),
    }


async def test_an_overlapping_insert_is_refused_by_the_exclusion_constraint(sessionmaker):
    doctor, patient = await _doctor_and_patient(sessionmaker)
    other_doctor, _ = await _doctor_and_patient(sessionmaker)
    async with sessionmaker() as db, db.begin():
        first = await db.scalar(INSERT, _row(doctor, patient, START, buffer=10))
        # Another doctor at the same time, and this doctor after the buffer: both fine.
        await db.execute(INSERT, _row(other_doctor, patient, START))
        await db.execute(INSERT, _row(doctor, patient, START + timedelta(minutes=40)))
    for start in (START, START + timedelta(minutes=35), START - timedelta(minutes=15)):
        async with sessionmaker() as db:
            with pytest.raises(IntegrityError) as refused:
                await db.execute(INSERT, _row(doctor, patient, start))
            assert refused.value.orig.sqlstate == "23P01"  # type: ignore[union-attr]
            assert "appointments_no_double_booking" in str(refused.value)
    # Cancelled, the slot is free again.
    async with sessionmaker() as db, db.begin():
        await db.execute(
            text("UPDATE appointments SET status = 'cancelled' WHERE id = :id"), {"id": first}
        )
        await db.execute(INSERT, _row(doctor, patient, START))
    async with sessionmaker() as db:
        held = await db.scalar(
            text(
                "SELECT count(*) FROM appointments WHERE doctor_id = :d"
                " AND status NOT IN ('cancelled', 'no_show')"
            ),
            {"d": doctor},
        )
    assert held == 2


async def test_a_seeded_doctors_schedule_shows_free_slots(client, sessionmaker):
    """Issue 16: it answered 500 for every seeded doctor (the stored shape did not match)."""
    await seed(sessionmaker)
    async with sessionmaker() as db:
        doctor_id, zone = (
            await db.execute(text("SELECT id, timezone FROM doctors ORDER BY id LIMIT 1"))
        ).one()
    schedule = await client.get(f"/doctors/{doctor_id}/schedule")
    assert schedule.status_code == 200, schedule.text
    data = schedule.json()["data"]
    assert data["timezone"] == zone
    assert len(data["slots"]) >= 8 * 5  # 09:00-13:00 on weekdays, two weeks
    first = datetime.fromisoformat(data["slots"][0]["starts_at"])
    assert first.strftime("%H:%M") >= "09:00" and first.weekday() < 5
    too_far = await client.get(
        f"/doctors/{doctor_id}/schedule",
        params={"to": str((datetime.now(UTC) + timedelta(days=200)).date())},
    )
    assert too_far.status_code == 422
    bad_zone = await client.get(f"/doctors/{doctor_id}/schedule", params={"tz": "Mars/Base"})
    assert bad_zone.status_code == 422
