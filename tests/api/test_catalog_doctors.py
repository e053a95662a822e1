"""Doctors over HTTP: profiles, search and filters, schedule and availability, reviews,
appointments and patients."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from domain.access import Role
from domain.models.catalog import Doctor
from domain.models.content import Translation
from tests.builders.catalog_builders import (
    add_appointment,
    add_doctor,
    add_hospital,
    add_review,
    affiliate,
    patient_of,
)
from tests.builders.users import create_user, headers_for

WEEK = {
    "timezone": "Europe/Istanbul",
    "weekly_hours": [
        {"day": "monday", "start": "09:00", "end": "12:00"},
        {"day": 0, "start": "13:00", "end": "17:00"},
        {"day": "Fri", "start": "10:00", "end": "14:00"},
    ],
}


async def test_public_lists_approved_doctors_with_their_names(client, sessionmaker):
    await add_doctor(sessionmaker, first_name="Ayse", last_name="Kaya", specialty="Cardiology")
    await add_doctor(sessionmaker, last_name="Pending", approved=False)
    inactive, _ = await add_doctor(sessionmaker, last_name="Gone")
    async with sessionmaker() as db, db.begin():
        (await db.get(type(inactive), inactive.id)).is_active = False
    listed = await client.get("/doctors")
    assert listed.status_code == 200
    assert listed.json()["meta"]["total"] == 1
    (doctor,) = listed.json()["data"]
    assert (doctor["first_name"], doctor["last_name"]) == ("Ayse", "Kaya")
    assert "email" not in doctor


async def test_doctors_are_found_by_name_or_specialty_and_filtered(client, sessionmaker):
    hospital = await add_hospital(sessionmaker)
    _, kaya = await add_doctor(
        sessionmaker,
        first_name="Ayse",
        last_name="Kaya",
        specialty="Cardiology",
        languages=["English", "Turkish"],
        consultation_fee=150,
        is_available_teleconsult=True,
    )
    await add_doctor(
        sessionmaker,
        first_name="Raj",
        last_name="Patel",
        specialty="Orthopedics",
        languages=["Hindi"],
        consultation_fee=60,
        is_available_teleconsult=False,
    )
    await affiliate(sessionmaker, hospital, kaya)

    async def names(**params):
        response = await client.get("/doctors", params=params)
        assert response.status_code == 200, response.text
        return sorted(d["last_name"] for d in response.json()["data"])

    assert await names(search="kay") == ["Kaya"]
    assert await names(search="ortho") == ["Patel"]
    assert await names(specialty="cardiology") == ["Kaya"]
    assert await names(hospital_id=str(hospital.id)) == ["Kaya"]
    assert await names(language="turkish") == ["Kaya"]
    assert await names(teleconsult="false") == ["Patel"]
    assert await names(fee_min="100") == ["Kaya"]
    assert await names(fee_max="99.99") == ["Patel"]
    assert await names(fee_min="50", fee_max="200") == ["Kaya", "Patel"]
    by_fee = await client.get("/doctors", params={"sort": "-consultation_fee"})
    assert [d["last_name"] for d in by_fee.json()["data"]] == ["Kaya", "Patel"]
    bad = await client.get("/doctors", params={"fee_min": "-5"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "fee_min"


async def test_an_unapproved_doctor_sees_and_edits_their_own_profile_the_public_does_not(
    client, sessionmaker
):
    user, doctor = await add_doctor(sessionmaker, approved=False)
    assert (await client.get(f"/doctors/{doctor.id}")).status_code == 404
    headers = headers_for(user)
    assert (await client.get(f"/doctors/{doctor.id}", headers=headers)).status_code == 200
    edited = await client.patch(
        f"/doctors/{doctor.id}",
        headers=headers,
        json={"bio": "20 years in cardiac surgery", "consultation_fee": "80.00"},
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["data"]["bio"] == "20 years in cardiac surgery"
    assert edited.json()["data"]["first_name"] == "Ayse"


async def test_doctor_cannot_change_rating_reviews_or_owner_of_their_profile(client, sessionmaker):
    user, doctor = await add_doctor(sessionmaker)
    headers = headers_for(user)
    for field, value in [("rating", "5.00"), ("total_reviews", 100)]:
        refused = await client.patch(f"/doctors/{doctor.id}", headers=headers, json={field: value})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "FIELD_NOT_ALLOWED"
        assert refused.json()["error"]["details"]["fields"] == [field]
    owner = await client.patch(
        f"/doctors/{doctor.id}", headers=headers, json={"user_id": str(user.id)}
    )
    assert owner.status_code == 422
    async with sessionmaker() as db:
        stored = await db.get(Doctor, doctor.id)
        assert stored.rating == 0 and stored.total_reviews == 0


async def test_admin_corrects_a_rating_and_opens_a_profile_for_a_doctor_user(client, sessionmaker):
    admin = await create_user(sessionmaker, Role.ADMIN)
    user, doctor = await add_doctor(sessionmaker)
    headers = headers_for(admin)
    rated = await client.patch(f"/doctors/{doctor.id}", headers=headers, json={"rating": "4.5"})
    assert rated.status_code == 200 and rated.json()["data"]["rating"] == "4.5"

    taken = await client.post("/doctors", headers=headers, json={"user_id": str(user.id)})
    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "DOCTOR_PROFILE_EXISTS"
    patient = await create_user(sessionmaker)
    not_doctor = await client.post("/doctors", headers=headers, json={"user_id": str(patient.id)})
    assert not_doctor.status_code == 400
    assert not_doctor.json()["error"]["details"]["field"] == "user_id"

    # A doctor user without a profile (the admin deleted it) gets a new one.
    assert (await client.delete(f"/doctors/{doctor.id}", headers=headers)).status_code == 200
    created = await client.post(
        "/doctors",
        headers=headers,
        json={"user_id": str(user.id), "specialty": "Dermatology", "languages": ["English"]},
    )
    assert created.status_code == 201, created.text
    assert created.json()["data"]["specialty"] == "Dermatology"
    assert created.json()["data"]["last_name"] == "Yilmaz"


async def test_a_doctor_with_appointments_cannot_be_deleted(client, sessionmaker):
    admin = await create_user(sessionmaker, Role.ADMIN)
    _, doctor = await add_doctor(sessionmaker)
    patient = await patient_of(sessionmaker, await create_user(sessionmaker))
    await add_appointment(sessionmaker, doctor, patient, datetime.now(UTC) + timedelta(days=1))
    refused = await client.delete(f"/doctors/{doctor.id}", headers=headers_for(admin))
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "DOCTOR_IN_USE"


async def test_doctor_profile_text_is_translated(client, sessionmaker):
    _, doctor = await add_doctor(sessionmaker, specialty="Cardiology", bio="Heart surgeon")
    async with sessionmaker() as db, db.begin():
        for field, text in [("specialty", "Cardiología"), ("bio", "Cirujana cardíaca")]:
            db.add(
                Translation(
                    entity_type="doctors",
                    entity_id=doctor.id,
                    field_name=field,
                    locale="es",
                    translated_text=text,
                    published_text=text,
                    status="approved",
                )
            )
    spanish = await client.get(f"/doctors/{doctor.id}", headers={"Accept-Language": "es"})
    assert spanish.json()["data"]["specialty"] == "Cardiología"
    assert spanish.json()["data"]["bio"] == "Cirujana cardíaca"
    listed = await client.get("/doctors", params={"lang": "es"})
    assert listed.json()["data"][0]["specialty"] == "Cardiología"


async def test_doctor_sets_weekly_availability_and_the_public_reads_the_schedule(
    client, sessionmaker
):
    user, doctor = await add_doctor(sessionmaker)
    patient_user = await create_user(sessionmaker, first_name="Secret", last_name="Patient")
    patient = await patient_of(sessionmaker, patient_user)
    headers = headers_for(user)
    saved = await client.patch(f"/doctors/{doctor.id}/availability", headers=headers, json=WEEK)
    assert saved.status_code == 200, saved.text
    weekly = saved.json()["data"]["weekly_hours"]
    assert [(s["day"], s["start"], s["end"]) for s in weekly] == [
        (0, "09:00", "12:00"),
        (0, "13:00", "17:00"),
        (4, "10:00", "14:00"),
    ]
    assert weekly[2]["day_name"] == "friday"

    # Next Monday 09:00 Istanbul (UTC+3) is taken (45 minutes); a cancelled one frees its time.
    today = datetime.now(UTC).date()
    monday = today + timedelta(days=7 - today.weekday())
    taken = datetime(monday.year, monday.month, monday.day, 6, 0, tzinfo=UTC)
    await add_appointment(
        sessionmaker, doctor, patient, taken, duration_minutes=45, chief_complaint="chest pain"
    )
    await add_appointment(sessionmaker, doctor, patient, taken + timedelta(hours=7), "cancelled")

    schedule = await client.get(
        f"/doctors/{doctor.id}/schedule", params={"from": str(monday), "to": str(monday)}
    )
    assert schedule.status_code == 200, schedule.text
    data = schedule.json()["data"]
    assert data["timezone"] == "Europe/Istanbul"
    assert data["availability"]["timezone"] == "Europe/Istanbul"
    starts = [datetime.fromisoformat(s["starts_at"]) for s in data["slots"]]
    # 09:00-12:00 and 13:00-17:00 in 30-minute slots, but 09:00 and 09:30 (the 45 minutes).
    assert len(starts) == 6 + 8 - 2
    assert starts[0] == taken + timedelta(hours=1)
    assert taken + timedelta(hours=7) in starts
    assert all(s.utcoffset() == timedelta(hours=3) for s in starts)
    assert "Secret" not in schedule.text and "chest pain" not in schedule.text
    assert str(patient.id) not in schedule.text

    cleared = await client.patch(
        f"/doctors/{doctor.id}/availability",
        headers=headers,
        json={"timezone": "UTC", "weekly_hours": []},
    )
    assert cleared.json()["data"]["weekly_hours"] == []


async def test_invalid_availability_names_the_field_and_changes_nothing(client, sessionmaker):
    user, doctor = await add_doctor(sessionmaker)
    headers = headers_for(user)
    assert (
        await client.patch(f"/doctors/{doctor.id}/availability", headers=headers, json=WEEK)
    ).status_code == 200
    slot = {"day": 1, "start": "09:00", "end": "12:00"}
    cases = [
        ({"timezone": "Mars/Olympus", "weekly_hours": [slot]}, "timezone"),
        ({"timezone": "../../etc/passwd", "weekly_hours": [slot]}, "timezone"),
        ({"timezone": "UTC", "weekly_hours": [{**slot, "day": 7}]}, "weekly_hours.0.day"),
        ({"timezone": "UTC", "weekly_hours": [{**slot, "day": "someday"}]}, "weekly_hours.0.day"),
        ({"timezone": "UTC", "weekly_hours": [{**slot, "start": "9am"}]}, "weekly_hours.0.start"),
        ({"timezone": "UTC", "weekly_hours": [slot, {**slot, "end": "08:00"}]}, "weekly_hours.1"),
        (
            {"timezone": "UTC", "weekly_hours": [slot, {**slot, "start": "11:00", "end": "13:00"}]},
            "weekly_hours",
        ),
    ]
    for body, field in cases:
        refused = await client.patch(
            f"/doctors/{doctor.id}/availability", headers=headers, json=body
        )
        assert refused.status_code == 422, body
        assert refused.json()["error"]["details"][0]["field"] == field, refused.json()
    overlap = refused.json()["message"]
    assert "overlap" in overlap and "tuesday" in overlap
    stored = (await client.get(f"/doctors/{doctor.id}/availability")).json()["data"]
    assert stored["timezone"] == "Europe/Istanbul" and len(stored["weekly_hours"]) == 3


async def test_doctor_reviews_show_published_reviews_without_their_author(client, sessionmaker):
    _, doctor = await add_doctor(sessionmaker)
    patient = await patient_of(sessionmaker, await create_user(sessionmaker))
    await add_review(
        sessionmaker,
        doctor,
        rating=5,
        review_text="Excellent",
        is_published=True,
        patient_id=patient.id,
    )
    await add_review(sessionmaker, doctor, rating=1, review_text="Not yet moderated")
    reviews = await client.get(f"/doctors/{doctor.id}/reviews")
    assert reviews.status_code == 200
    assert reviews.json()["meta"]["total"] == 1
    (review,) = reviews.json()["data"]
    assert review["review_text"] == "Excellent" and review["rating"] == 5
    assert "patient_id" not in review and str(patient.id) not in reviews.text


async def test_doctor_lists_own_appointments_and_distinct_patients(client, sessionmaker):
    user, doctor = await add_doctor(sessionmaker)
    _, other_doctor = await add_doctor(sessionmaker, last_name="Other")
    first = await patient_of(sessionmaker, await create_user(sessionmaker, first_name="Ana"))
    second = await patient_of(sessionmaker, await create_user(sessionmaker, first_name="Ben"))
    stranger = await patient_of(sessionmaker, await create_user(sessionmaker, first_name="Cy"))
    now = datetime.now(UTC)
    await add_appointment(sessionmaker, doctor, first, now - timedelta(days=20))
    await add_appointment(sessionmaker, doctor, first, now + timedelta(days=1))
    await add_appointment(sessionmaker, doctor, second, now - timedelta(days=3), "cancelled")
    await add_appointment(sessionmaker, other_doctor, stranger, now)
    headers = headers_for(user)

    appointments = await client.get(
        f"/doctors/{doctor.id}/appointments", headers=headers, params={"limit": 2}
    )
    assert appointments.status_code == 200
    assert appointments.json()["meta"] == {"page": 1, "limit": 2, "total": 3}
    assert appointments.json()["data"][0]["patient_id"] == str(first.id)
    cancelled = await client.get(
        f"/doctors/{doctor.id}/appointments", headers=headers, params={"status": "cancelled"}
    )
    assert [a["patient_id"] for a in cancelled.json()["data"]] == [str(second.id)]

    patients = await client.get(f"/doctors/{doctor.id}/patients", headers=headers)
    assert patients.status_code == 200
    assert patients.json()["meta"]["total"] == 2
    rows = {p["first_name"]: p for p in patients.json()["data"]}
    assert set(rows) == {"Ana", "Ben"}
    assert rows["Ana"]["appointments"] == 2
    assert "medical_history" not in rows["Ana"]


async def test_admin_reads_any_doctors_appointments(client, sessionmaker):
    admin = await create_user(sessionmaker, Role.ADMIN)
    _, doctor = await add_doctor(sessionmaker, approved=False)
    headers = headers_for(admin)
    response = await client.get(f"/doctors/{doctor.id}/appointments", headers=headers)
    assert response.status_code == 200 and response.json()["meta"]["total"] == 0
    async with sessionmaker() as db:
        assert await db.scalar(select(Doctor.id).where(Doctor.id == doctor.id))


async def test_the_schedule_is_in_the_askers_zone_across_the_berlin_clock_change(
    client, sessionmaker
):
    # A Berlin doctor free 09:00-10:00 every day; the clocks go forward on Sunday 28 March 2027.
    user, doctor = await add_doctor(sessionmaker)
    every_day = [{"day": d, "start": "09:00", "end": "10:00"} for d in range(7)]
    saved = await client.patch(
        f"/doctors/{doctor.id}/availability",
        headers=headers_for(user),
        json={
            "timezone": "Europe/Berlin",
            "weekly_hours": every_day,
            "slot_minutes": 30,
            "minimum_notice_hours": 0,
        },
    )
    assert saved.status_code == 200, saved.text
    week = {"from": "2027-03-27", "to": "2027-03-29"}

    in_kolkata = await client.get(
        f"/doctors/{doctor.id}/schedule", params={**week, "tz": "Asia/Kolkata"}
    )
    assert in_kolkata.status_code == 200, in_kolkata.text
    assert in_kolkata.json()["data"]["timezone"] == "Asia/Kolkata"
    starts = [datetime.fromisoformat(s["starts_at"]) for s in in_kolkata.json()["data"]["slots"]]
    # 09:00 Berlin is 08:00 UTC on the Saturday (CET), 07:00 UTC from the Sunday (CEST).
    assert [s.astimezone(UTC).strftime("%d %H:%M") for s in starts] == [
        "27 08:00",
        "27 08:30",
        "28 07:00",
        "28 07:30",
        "29 07:00",
        "29 07:30",
    ]
    assert all(s.utcoffset() == timedelta(hours=5, minutes=30) for s in starts)

    # Without tz, the signed-in asker's own zone.
    asker = await create_user(sessionmaker)
    async with sessionmaker() as db, db.begin():
        (await db.get(type(asker), asker.id)).timezone = "America/New_York"
    mine = await client.get(
        f"/doctors/{doctor.id}/schedule", params=week, headers=headers_for(asker)
    )
    assert mine.json()["data"]["timezone"] == "America/New_York"
    offsets = {
        datetime.fromisoformat(s["starts_at"]).utcoffset() for s in mine.json()["data"]["slots"]
    }
    assert offsets == {timedelta(hours=-4)}

    too_far = await client.get(
        f"/doctors/{doctor.id}/schedule",
        params={"to": str(datetime.now(UTC).date() + timedelta(days=200))},
    )
    assert too_far.status_code == 422
