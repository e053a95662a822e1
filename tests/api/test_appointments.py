"""Appointments over HTTP with the real stack: PostgreSQL, the Temporal dev server and the
production worker. Creation and its price, the status table (409 with the allowed next
statuses, 403 for a role that may not ask, nothing written), the slot race, reschedule and
cancel, the video window, and who reads what."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.access import Role
from domain.models.appointments import Appointment, AppointmentStatusHistory
from domain.models.audit import AuditLog
from runtime.settings import Settings
from tests.builders.appointment_builders import Clinic, book, booked, clinic, grid, later
from tests.builders.care_builders import add_booking
from tests.builders.helpers import eventually
from tests.builders.users import create_user, headers_for

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """Ten workflows start at once here on a small shared test machine: the API waits for a
    workflow longer than its production 5 s (rule 11's deadline is tested in
    test_workflow_deadline.py)."""
    return make_settings(workflow_deadline_seconds=30)


async def _history(
    sessionmaker: async_sessionmaker[AsyncSession], appointment_id: str
) -> list[tuple[int, str]]:
    async with sessionmaker() as db:
        rows = await db.scalars(
            select(AppointmentStatusHistory)
            .where(AppointmentStatusHistory.appointment_id == uuid.UUID(appointment_id))
            .order_by(AppointmentStatusHistory.seq)
        )
        return [(h.seq, h.to_status) for h in rows]


async def _row(sessionmaker: async_sessionmaker[AsyncSession], appointment_id: str) -> Appointment:
    async with sessionmaker() as db:
        row = await db.get(Appointment, uuid.UUID(appointment_id))
        assert row is not None
        return row


def _error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert body["success"] is False, body
    error: dict[str, Any] = {**body["error"], "message": body["message"]}
    return error


async def test_a_patient_books_the_doctor_confirms_and_illegal_moves_change_nothing(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    c = await clinic(sessionmaker, client)
    when = later(days=3)
    # The fee in the body is not the client's to set: the schema refuses unknown fields.
    priced = await book(client, c["patient"], c.doctor_id, when, consultation_fee="1.00")
    assert priced.status_code == 422, priced.text

    created = await book(client, c["patient"], c.doctor_id, when)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["success"] is True and body["message"] == "Appointment requested"
    data = body["data"]
    assert data["status"] == "requested"
    assert data["patient_id"] == str(c.patient_id) and data["doctor_id"] == str(c.doctor_id)
    assert Decimal(data["consultation_fee"]) == Decimal("80.00") and data["currency"] == "USD"
    assert datetime.fromisoformat(data["scheduled_date"]) == when
    assert datetime.fromisoformat(data["ends_at"]) == when + timedelta(minutes=30)
    assert data["patient_name"] == "Amira Haddad" and data["doctor_name"] == "Ayse Yilmaz"
    assert data["appointment_number"].startswith("MV-AP-")
    appointment_id = data["id"]

    read = await client.get(f"/appointments/{appointment_id}", headers=c["patient"])
    assert read.status_code == 200 and read.json()["data"]["id"] == appointment_id
    assert read.json()["data"]["chief_complaint"] == "Persistent headaches"
    assert await _history(sessionmaker, appointment_id) == [(1, "requested")]

    # The patient may not confirm their own appointment: 403, nothing written.
    refused = await client.patch(
        f"/appointments/{appointment_id}/status",
        headers=c["patient"],
        json={"status": "appointment_confirmed"},
    )
    assert refused.status_code == 403, refused.text
    assert _error(refused)["code"] in ("ROLE_NOT_ALLOWED", "FORBIDDEN")
    # requested -> consultation_completed is no move: 409 with where it may go.
    illegal = await client.patch(
        f"/appointments/{appointment_id}/status",
        headers=c["doctor"],
        json={"status": "consultation_completed"},
    )
    assert illegal.status_code == 409, illegal.text
    error = _error(illegal)
    assert error["code"] == "INVALID_TRANSITION"
    assert set(error["details"]["allowed"]) == {"appointment_confirmed", "cancelled"}
    assert await _history(sessionmaker, appointment_id) == [(1, "requested")]
    assert (await _row(sessionmaker, appointment_id)).status == "requested"

    confirmed = await client.patch(
        f"/appointments/{appointment_id}/status",
        headers=c["doctor"],
        json={"status": "appointment_confirmed", "notes": "See you then"},
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["data"]["status"] == "appointment_confirmed"
    assert confirmed.json()["data"]["has_video_room"] is True
    again = await client.get(f"/appointments/{appointment_id}", headers=c["patient"])
    assert again.json()["data"]["status"] == "appointment_confirmed"
    assert await _history(sessionmaker, appointment_id) == [
        (1, "requested"),
        (2, "appointment_confirmed"),
    ]
    # Confirmed twice is no move either (409), and still nothing written.
    twice = await client.patch(
        f"/appointments/{appointment_id}/status",
        headers=c["doctor"],
        json={"status": "appointment_confirmed"},
    )
    assert twice.status_code == 409, twice.text
    assert "cancelled" in _error(twice)["details"]["allowed"]
    assert len(await _history(sessionmaker, appointment_id)) == 2


async def test_ten_patients_race_for_one_slot_and_exactly_one_gets_it(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    c = await clinic(sessionmaker, client)
    racers = [c["patient"], c["other_patient"]] + [
        headers_for(await create_user(sessionmaker, first_name=f"Racer{i}")) for i in range(8)
    ]
    when = later(days=2, hours=1)
    answers = await asyncio.gather(*(book(client, h, c.doctor_id, when) for h in racers))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [409] * 9, [a.text for a in answers]
    for lost in (a for a in answers if a.status_code == 409):
        error = _error(lost)
        assert error["code"] == "SLOT_TAKEN"
        offered = [datetime.fromisoformat(s["starts_at"]) for s in error["details"]["next_slots"]]
        assert offered and when not in offered and all(s > when for s in offered)
        assert offered[0] == when + timedelta(minutes=30)
    async with sessionmaker() as db:
        held = await db.scalar(
            select(func.count())
            .select_from(Appointment)
            .where(Appointment.doctor_id == c.doctor_id, Appointment.scheduled_date == when)
        )
    assert held == 1
    # The winner's slot is gone from the doctor's public schedule.
    schedule = await client.get(
        f"/doctors/{c.doctor_id}/schedule",
        params={"from": str(when.date()), "to": str(when.date()), "tz": "UTC"},
    )
    starts = [datetime.fromisoformat(s["starts_at"]) for s in schedule.json()["data"]["slots"]]
    assert when not in starts and when + timedelta(minutes=30) in starts


async def test_outside_hours_too_soon_or_past_is_422_with_the_reason(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    c = await clinic(sessionmaker, client, minimum_notice_hours=6)
    patient = c["patient"]
    # Hours: weekdays 09:00-10:00 in the doctor's zone only.
    hours = await client.patch(
        f"/doctors/{c.doctor_id}/availability",
        headers=c["doctor"],
        json={"weekly_hours": [{"day": d, "start": "09:00", "end": "10:00"} for d in range(5)]},
    )
    assert hours.status_code == 200, hours.text
    zone = ZoneInfo(c.zone)
    day = (datetime.now(zone) + timedelta(days=3)).date()
    while day.weekday() >= 5:
        day += timedelta(days=1)
    evening = datetime(day.year, day.month, day.day, 20, 0, tzinfo=zone)
    outside = await book(client, patient, c.doctor_id, evening)
    assert outside.status_code == 422, outside.text
    assert _error(outside)["code"] == "APPOINTMENT_OUTSIDE_HOURS"
    assert "outside the doctor's hours" in _error(outside)["message"]

    soon = datetime.now(UTC) + timedelta(hours=1)
    too_soon = await book(client, patient, c.doctor_id, soon)
    assert too_soon.status_code == 422, too_soon.text
    assert _error(too_soon)["code"] == "APPOINTMENT_TOO_SOON"
    assert "6 hours' notice" in _error(too_soon)["message"]
    assert "earliest" in _error(too_soon)["details"]

    past = await book(client, patient, c.doctor_id, datetime.now(UTC) - timedelta(days=1))
    assert past.status_code == 422, past.text
    assert _error(past)["code"] == "APPOINTMENT_IN_PAST"

    inside = await book(
        client, patient, c.doctor_id, datetime(day.year, day.month, day.day, 9, 0, tzinfo=zone)
    )
    assert inside.status_code == 201, inside.text
    async with sessionmaker() as db:
        count = await db.scalar(
            select(func.count())
            .select_from(Appointment)
            .where(Appointment.doctor_id == c.doctor_id)
        )
    assert count == 1


async def test_reschedule_into_a_taken_slot_keeps_the_old_one_and_into_a_free_one_moves(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    c = await clinic(sessionmaker, client)
    first = later(days=3)
    taken = first + timedelta(hours=1)
    free = first + timedelta(hours=2)
    mine = await booked(client, c["patient"], c.doctor_id, first)
    await booked(client, c["other_patient"], c.doctor_id, taken)

    clash = await client.post(
        f"/appointments/{mine['id']}/reschedule",
        headers=c["patient"],
        json={"new_scheduled_date": taken.isoformat(), "reason": "Work"},
    )
    assert clash.status_code == 409, clash.text
    assert _error(clash)["code"] == "SLOT_TAKEN"
    assert _error(clash)["details"]["next_slots"]
    kept = (await client.get(f"/appointments/{mine['id']}", headers=c["patient"])).json()["data"]
    assert datetime.fromisoformat(kept["scheduled_date"]) == first
    assert kept["reschedule_count"] == 0
    row = await _row(sessionmaker, mine["id"])
    assert row.scheduled_date == first and row.reschedule_count == 0

    moved = await client.post(
        f"/appointments/{mine['id']}/reschedule",
        headers=c["patient"],
        json={"new_scheduled_date": free.isoformat(), "reason": "Work"},
    )
    assert moved.status_code == 200, moved.text
    data = moved.json()["data"]
    assert datetime.fromisoformat(data["scheduled_date"]) == free
    assert datetime.fromisoformat(data["ends_at"]) == free + timedelta(minutes=30)
    assert data["reschedule_count"] == 1
    # The old time is free again: someone else books it.
    await booked(client, c["other_patient"], c.doctor_id, first)
    # Into the past: 422, and it stays where it is.
    past = await client.post(
        f"/appointments/{mine['id']}/reschedule",
        headers=c["patient"],
        json={"new_scheduled_date": (datetime.now(UTC) - timedelta(hours=1)).isoformat()},
    )
    assert past.status_code == 422, past.text
    assert (await _row(sessionmaker, mine["id"])).scheduled_date == free


async def test_cancel_with_a_reason_frees_the_slot_for_another_patient(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    c = await clinic(sessionmaker, client)
    when = later(days=3)
    mine = await booked(client, c["patient"], c.doctor_id, when)
    assert (await book(client, c["other_patient"], c.doctor_id, when)).status_code == 409

    no_reason = await client.delete(f"/appointments/{mine['id']}", headers=c["patient"])
    assert no_reason.status_code == 400, no_reason.text
    assert _error(no_reason)["code"] == "REASON_REQUIRED"
    assert (await _row(sessionmaker, mine["id"])).status == "requested"
    stranger = await client.request(
        "DELETE",
        f"/appointments/{mine['id']}",
        headers=c["other_patient"],
        json={"reason": "Not mine"},
    )
    assert stranger.status_code == 404, stranger.text

    cancelled = await client.request(
        "DELETE",
        f"/appointments/{mine['id']}",
        headers=c["patient"],
        json={"reason": "Feeling better"},
    )
    assert cancelled.status_code == 200, cancelled.text
    data = cancelled.json()["data"]
    assert data["status"] == "cancelled"
    assert data["cancellation_reason"] == "Feeling better"
    assert data["cancelled_by_role"] == "patient"
    assert await _history(sessionmaker, mine["id"]) == [(1, "requested"), (2, "cancelled")]

    theirs = await booked(client, c["other_patient"], c.doctor_id, when)
    assert datetime.fromisoformat(theirs["scheduled_date"]) == when
    # Cancelled is the end: no more moves.
    again = await client.request(
        "DELETE", f"/appointments/{mine['id']}", headers=c["patient"], json={"reason": "Again"}
    )
    assert again.status_code == 409, again.text
    assert _error(again)["details"]["allowed"] == []


async def _confirmed(
    client: httpx.AsyncClient, c: Clinic, starts_at: datetime, patient: str = "patient"
) -> dict[str, Any]:
    made = await booked(client, c[patient], c.doctor_id, starts_at)
    confirmed = await client.patch(
        f"/appointments/{made['id']}/status",
        headers=c["doctor"],
        json={"status": "appointment_confirmed"},
    )
    assert confirmed.status_code == 200, confirmed.text
    return made


async def test_the_video_link_opens_shortly_before_the_start_for_the_parties_and_staff_only(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    c = await clinic(sessionmaker, client)
    soon = (datetime.now(UTC) + timedelta(minutes=10)).replace(second=0, microsecond=0)
    near = await _confirmed(client, c, soon)
    far = await _confirmed(client, c, later(days=2), patient="other_patient")
    requested = await booked(client, c["patient"], c.doctor_id, later(days=3))

    # Two days ahead: not open yet, and the answer says when it opens.
    closed = await client.get(f"/appointments/{far['id']}/video-call", headers=c["other_patient"])
    assert closed.status_code == 409, closed.text
    error = _error(closed)
    assert error["code"] == "VIDEO_CALL_NOT_OPEN"
    opens_at = datetime.fromisoformat(error["details"]["opens_at"])
    assert opens_at == datetime.fromisoformat(far["scheduled_date"]) - timedelta(minutes=15)
    assert opens_at.isoformat() in error["message"]
    # Not confirmed: no room yet.
    unconfirmed = await client.get(
        f"/appointments/{requested['id']}/video-call", headers=c["patient"]
    )
    assert unconfirmed.status_code == 409 and _error(unconfirmed)["code"] == "VIDEO_CALL_NOT_OPEN"

    path = f"/appointments/{near['id']}/video-call"
    # Outsiders do not see the appointment (404); the hospital's admin sees it but may not join.
    for outsider in ("other_patient", "other_doctor", "other_hospital_admin"):
        assert (await client.get(path, headers=c[outsider])).status_code == 404, outsider
    refused = await client.get(path, headers=c["hospital_admin"])
    assert refused.status_code == 403, refused.text
    links = {}
    for who in ("coordinator", "admin", "patient", "doctor"):
        answer = await client.get(path, headers=c[who])
        assert answer.status_code == 200, (who, answer.text)
        data = answer.json()["data"]
        assert data["url"].startswith("http") and data["provider"] == "jitsi"
        assert datetime.fromisoformat(data["opens_at"]) == soon - timedelta(minutes=15)
        assert datetime.fromisoformat(data["closes_at"]) == soon + timedelta(minutes=30)
        links[who] = data["url"]
    # Unsigned (no JWT secret set): everyone joins the appointment's one unguessable room.
    room = (await _row(sessionmaker, near["id"])).video_room_id
    assert room and all(room in url for url in links.values())

    # Both parties opened it: the consultation is under way.
    async def started() -> Appointment | None:
        row = await _row(sessionmaker, near["id"])
        return row if row.status == "consultation_in_progress" else None

    row = await eventually(started)
    assert row.patient_joined_at is not None and row.doctor_joined_at is not None


# ---- who reads and does what: every appointment route against every role ------------------

ROLES = (
    "patient",
    "other_patient",
    "doctor",
    "other_doctor",
    "hospital_admin",
    "other_hospital_admin",
    "coordinator",
    "admin",
)


def _row_of(*codes: int) -> dict[str, int]:
    assert len(codes) == len(ROLES)
    return dict(zip(ROLES, codes, strict=True))


SEES = _row_of(200, 404, 200, 404, 200, 404, 200, 200)
DOCTOR_BOOK = _row_of(403, 403, 200, 403, 200, 403, 200, 200)
# (method, path, body) -> status per role on appointment A (patient with doctor, at H), which
# none of these calls changes: reads, refusals and the edit of the complaint.
STILL: list[tuple[str, str, dict[str, Any] | None, dict[str, int]]] = [
    ("GET", "/appointments/{A}", None, SEES),
    ("GET", "/appointments/{A}/timeline", None, SEES),
    # Two days ahead and not confirmed: not open (409) to those who may join, 403 otherwise.
    ("GET", "/appointments/{A}/video-call", None, _row_of(409, 404, 409, 404, 403, 404, 409, 409)),
    (
        "PATCH",
        "/appointments/{A}",
        {"chief_complaint": "Headaches, worse at night"},
        _row_of(200, 404, 200, 404, 403, 404, 200, 200),
    ),
    ("GET", "/doctors/{D}/appointments", None, DOCTOR_BOOK),
    ("GET", "/doctors/{D}/patients", None, DOCTOR_BOOK),
    ("GET", "/patients/{P}/appointments", None, SEES),
    # Only a doctor prescribes (other roles 403 before the body); this one's doctor, before the
    # consultation: 409, nothing written (tests/api/test_appointment_prescriptions.py).
    (
        "POST",
        "/appointments/{A}/prescription",
        {
            "medications": [
                {"name": "Paracetamol", "dosage": "1g", "frequency": "Daily", "duration": "3 days"}
            ]
        },
        _row_of(403, 403, 409, 404, 403, 403, 403, 403),
    ),
]
# Calls that change the appointment: each role that may gets a fresh one of its own.
MOVES: list[tuple[str, str, dict[str, Any], dict[str, int]]] = [
    (
        "PATCH",
        "/appointments/{A}/status",
        {"status": "appointment_confirmed"},
        _row_of(403, 404, 200, 404, 200, 404, 200, 200),
    ),
    (
        "POST",
        "/appointments/{A}/reschedule",
        {"new_scheduled_date": "{NEW}", "reason": "Clash"},
        _row_of(200, 404, 200, 404, 200, 404, 200, 200),
    ),
    (
        "DELETE",
        "/appointments/{A}",
        {"reason": "No longer needed"},
        _row_of(200, 404, 200, 404, 200, 404, 200, 200),
    ),
]


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


async def _call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    headers: dict[str, str],
    values: dict[str, str],
) -> httpx.Response:
    json = {k: _fill(v, values) if isinstance(v, str) else v for k, v in (body or {}).items()}
    return await client.request(
        method, _fill(path, values), headers=headers, json=json if body is not None else None
    )


async def test_access_matrix_of_every_appointment_route(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    c = await clinic(sessionmaker, client)
    start = later(days=3)
    a = await booked(client, c["patient"], c.doctor_id, start)
    b = await booked(client, c["other_patient"], c.other_doctor_id, start)
    values = {"A": a["id"], "D": str(c.doctor_id), "P": str(c.patient_id)}
    wrong: list[str] = []
    for method, path, body, expected in STILL:
        for role in ROLES:
            answer = await _call(client, method, path, body, c[role], values)
            if answer.status_code != expected[role]:
                wrong.append(f"{method} {path} {role}: {answer.status_code} {answer.text[:200]}")
            elif answer.status_code >= 400:
                assert answer.json()["success"] is False
    slot = 0
    for method, path, body, expected in MOVES:
        for role in ROLES:
            target = a
            if expected[role] < 400:
                slot += 1
                target = await booked(client, c["patient"], c.doctor_id, grid(c.zone, slot))
            slot += 1
            new = grid(c.zone, slot)
            answer = await _call(
                client,
                method,
                path,
                body,
                c[role],
                {**values, "A": target["id"], "NEW": new.isoformat()},
            )
            if answer.status_code != expected[role]:
                wrong.append(f"{method} {path} {role}: {answer.status_code} {answer.text[:200]}")
    # Creating one: a patient for themselves, staff for anyone; nobody else.
    for role, code in _row_of(201, 403, 403, 403, 403, 403, 201, 201).items():
        slot += 1
        when = grid(c.zone, slot)
        answer = await book(client, c[role], c.doctor_id, when, patient_id=c.patient_id)
        if answer.status_code != code:
            wrong.append(f"POST /appointments {role}: {answer.status_code} {answer.text[:200]}")
    assert not wrong, "\n".join(wrong)
    # None of the refusals wrote anything to A: its one history row, its time, its status.
    assert await _history(sessionmaker, a["id"]) == [(1, "requested")]
    row = await _row(sessionmaker, a["id"])
    assert row.scheduled_date == start and row.status == "requested"
    assert row.chief_complaint == "Headaches, worse at night"

    # The lists: each sees their own, the hospital's admin their doctors', staff all.
    sees = {
        "patient": {a["id"]},
        "other_patient": {b["id"]},
        "doctor": {a["id"]},
        "other_doctor": {b["id"]},
        "hospital_admin": {a["id"]},
        "other_hospital_admin": {b["id"]},
    }
    for role in ROLES:
        listed = await client.get("/appointments", headers=c[role], params={"limit": 100})
        assert listed.status_code == 200, listed.text
        ids = {item["id"] for item in listed.json()["data"]}
        assert ids & {a["id"], b["id"]} == sees.get(role, {a["id"], b["id"]}), role
    # The hospital's admin runs the schedule: no complaint, in the detail or the doctor's book.
    detail = await client.get(f"/appointments/{a['id']}", headers=c["hospital_admin"])
    assert detail.json()["data"]["chief_complaint"] is None
    book_ = await client.get(f"/doctors/{c.doctor_id}/appointments", headers=c["hospital_admin"])
    assert book_.json()["data"] and all(i["chief_complaint"] is None for i in book_.json()["data"])
    mine = await client.get(f"/doctors/{c.doctor_id}/appointments", headers=c["doctor"])
    assert "Headaches, worse at night" in mine.text


async def test_lists_page_and_filter_by_status_people_and_dates(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    c = await clinic(sessionmaker, client)
    day3, day4, day5 = later(days=3), later(days=4), later(days=5)
    first = await _confirmed(client, c, day3)
    second = await booked(client, c["patient"], c.doctor_id, day4)
    third = await booked(client, c["other_patient"], c.doctor_id, day5)
    fourth = await booked(client, c["other_patient"], c.other_doctor_id, day3)
    admin = c["admin"]

    async def ids(headers: dict[str, str], path: str = "/appointments", **params: Any) -> list:
        answer = await client.get(path, headers=headers, params=params)
        assert answer.status_code == 200, answer.text
        return [item.get("id") or item.get("patient_id") for item in answer.json()["data"]]

    everything = await client.get("/appointments", headers=admin, params={"limit": 2})
    meta = everything.json()["meta"]
    assert {k: meta[k] for k in ("page", "limit", "total", "total_exact")} == {
        "page": 1,
        "limit": 2,
        "total": 4,
        "total_exact": True,
    }
    # Latest first; the second page holds the rest, by page or by the first page's cursor.
    assert [i["id"] for i in everything.json()["data"]] == [third["id"], second["id"]]
    assert set(await ids(admin, page=2, limit=2)) == {first["id"], fourth["id"]}
    assert set(await ids(admin, after=meta["next"], limit=2)) == {first["id"], fourth["id"]}
    assert await ids(admin, status="appointment_confirmed") == [first["id"]]
    assert set(await ids(admin, patient_id=str(c.patient_id))) == {first["id"], second["id"]}
    assert set(await ids(admin, doctor_id=str(c.doctor_id))) == {
        first["id"],
        second["id"],
        third["id"],
    }
    on_day3 = str(day3.astimezone(UTC).date())
    assert set(await ids(admin, date_from=on_day3, date_to=on_day3)) == {
        first["id"],
        fourth["id"],
    }
    assert set(await ids(admin, date_from=str(day4.astimezone(UTC).date()))) == {
        second["id"],
        third["id"],
    }
    bad = await client.get("/appointments", headers=admin, params={"status": "lost"})
    assert bad.status_code == 422
    # Names are joined in.
    listed = (await client.get("/appointments", headers=c["patient"])).json()["data"]
    assert {i["patient_name"] for i in listed} == {"Amira Haddad"}
    assert {i["doctor_name"] for i in listed} == {"Ayse Yilmaz"}
    # A patient filtering for someone else's gets nothing of theirs.
    assert await ids(c["patient"], patient_id=str(c.other_patient_id)) == []

    # The doctor's own book and patients, and the hospital admin's view of them.
    book_path = f"/doctors/{c.doctor_id}/appointments"
    assert set(await ids(c["doctor"], book_path)) == {first["id"], second["id"], third["id"]}
    assert await ids(c["doctor"], book_path, status="appointment_confirmed") == [first["id"]]
    patients_path = f"/doctors/{c.doctor_id}/patients"
    for who in ("doctor", "hospital_admin", "coordinator"):
        assert set(await ids(c[who], patients_path)) == {
            str(c.patient_id),
            str(c.other_patient_id),
        }, who
    theirs = await ids(c["other_hospital_admin"], f"/doctors/{c.other_doctor_id}/patients")
    assert theirs == [str(c.other_patient_id)]
    # A patient's appointments: what the caller may see of them.
    of_patient = f"/patients/{c.other_patient_id}/appointments"
    assert set(await ids(c["other_patient"], of_patient)) == {third["id"], fourth["id"]}
    assert await ids(c["doctor"], of_patient) == [third["id"]]
    assert await ids(c["hospital_admin"], of_patient) == [third["id"]]
    assert await ids(c["other_hospital_admin"], of_patient) == [fourth["id"]]
    assert (await client.get(of_patient, headers=c["patient"])).status_code == 404
    missing = await client.get(f"/patients/{uuid.uuid4()}/appointments", headers=admin)
    assert missing.status_code == 404


async def test_a_repeated_request_with_the_same_idempotency_key_books_once(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    c = await clinic(sessionmaker, client)
    when = later(days=3)
    key = {"Idempotency-Key": "appt-" + uuid.uuid4().hex}
    first = await book(client, {**c["patient"], **key}, c.doctor_id, when)
    again = await book(client, {**c["patient"], **key}, c.doctor_id, when)
    assert first.status_code == 201 and again.status_code == 201, (first.text, again.text)
    assert first.json()["data"]["id"] == again.json()["data"]["id"]
    async with sessionmaker() as db:
        count = await db.scalar(
            select(func.count())
            .select_from(Appointment)
            .where(Appointment.doctor_id == c.doctor_id)
        )
    assert count == 1
    assert await _history(sessionmaker, first.json()["data"]["id"]) == [(1, "requested")]
    # A key whose request was refused (the slot was taken) stays refused: a new key is needed.
    refused_key = {"Idempotency-Key": "appt-" + uuid.uuid4().hex}
    lost = await book(client, {**c["other_patient"], **refused_key}, c.doctor_id, when)
    assert lost.status_code == 409 and _error(lost)["code"] == "SLOT_TAKEN"
    retried = await book(client, {**c["other_patient"], **refused_key}, c.doctor_id, when)
    assert retried.status_code == 409, retried.text
    assert _error(retried)["code"] == "APPOINTMENT_REQUEST_REFUSED"


async def test_a_coordinator_schedules_a_teleconsult_for_a_booking_and_its_timeline_shows_it(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    c = await clinic(sessionmaker, client)
    coordinator = c.users["coordinator"]
    booking = await add_booking(
        sessionmaker, c.patient_id, coordinator_id=coordinator.id, hospital_id=c.hospital_id
    )
    other = await add_booking(sessionmaker, c.patient_id, coordinator_id=coordinator.id)
    when = later(days=3)
    # Tying a consultation to a booking is the staff's; nothing is written when refused.
    refused = await book(client, c["patient"], c.doctor_id, when, booking_id=booking.id)
    assert refused.status_code == 403, refused.text
    stranger = await book(
        client,
        c["coordinator"],
        c.doctor_id,
        when,
        booking_id=other.id,
        patient_id=c.other_patient_id,
    )
    assert stranger.status_code == 400 and stranger.json()["error"]["code"] == "BOOKING_NOT_FOUND"

    made = await booked(
        client, c["coordinator"], c.doctor_id, when, booking_id=booking.id, patient_id=c.patient_id
    )
    assert made["booking_id"] == str(booking.id)
    for who in ("coordinator", "patient"):
        timeline = await client.get(f"/bookings/{booking.id}/timeline", headers=c[who])
        assert timeline.status_code == 200, timeline.text
        [shown] = timeline.json()["data"]["appointments"]
        assert shown["id"] == made["id"] and shown["status"] == "requested"
        assert shown["doctor_name"] == "Ayse Yilmaz"
        assert datetime.fromisoformat(shown["scheduled_date"]) == when
    elsewhere = await client.get(f"/bookings/{other.id}/timeline", headers=c["coordinator"])
    assert elsewhere.json()["data"]["appointments"] == []
    # Every coordinator sees the consultation; its clinical text only the patient's coordinator.
    assert (await client.get(f"/appointments/{made['id']}", headers=c["coordinator"])).json()[
        "data"
    ]["chief_complaint"] == "Persistent headaches"
    unassigned = headers_for(await create_user(sessionmaker, Role.COORDINATOR))
    seen = await client.get(f"/appointments/{made['id']}", headers=unassigned)
    assert seen.status_code == 200
    assert seen.json()["data"]["chief_complaint"] is None
    assert (
        "Persistent headaches" not in (await client.get("/appointments", headers=unassigned)).text
    )


async def test_a_follow_up_is_booked_during_the_consultation_and_the_first_waits_for_it(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    c = await clinic(sessionmaker, client)
    soon = (datetime.now(UTC) + timedelta(minutes=10)).replace(second=0, microsecond=0)
    first = await _confirmed(client, c, soon)
    # Not before the consultation has begun, and only with the same doctor and patient.
    early = await book(client, c["patient"], c.doctor_id, later(days=5), follow_up_of=first["id"])
    assert early.status_code == 409 and _error(early)["code"] == "FOLLOW_UP_NOT_ALLOWED"
    for who in ("doctor", "patient"):
        joined = await client.get(f"/appointments/{first['id']}/video-call", headers=c[who])
        assert joined.status_code == 200, joined.text

    async def status_is(status: str) -> Appointment | None:
        row = await _row(sessionmaker, first["id"])
        return row if row.status == status else None

    await eventually(lambda: status_is("consultation_in_progress"))
    elsewhere = await book(
        client, c["patient"], c.other_doctor_id, later(days=5), follow_up_of=first["id"]
    )
    assert elsewhere.status_code == 400 and _error(elsewhere)["code"] == "APPOINTMENT_NOT_FOUND"
    stranger = await book(
        client, c["other_patient"], c.doctor_id, later(days=5), follow_up_of=first["id"]
    )
    assert stranger.status_code == 400
    before = await _history(sessionmaker, first["id"])
    assert [s for _, s in before][-1] == "consultation_in_progress"

    follow = await booked(
        client, c["patient"], c.doctor_id, later(days=5), follow_up_of=first["id"]
    )
    assert follow["follow_up_of"] == first["id"] and follow["status"] == "requested"
    await eventually(lambda: status_is("follow_up_scheduled"))
    done = await client.patch(
        f"/appointments/{first['id']}/status",
        headers=c["doctor"],
        json={"status": "consultation_completed"},
    )
    assert done.status_code == 200, done.text
    statuses = [s for _, s in await _history(sessionmaker, first["id"])]
    assert statuses[len(before) :] == ["follow_up_scheduled", "consultation_completed"]
    assert (await _row(sessionmaker, follow["id"])).follow_up_of == uuid.UUID(first["id"])


async def test_inside_the_notice_only_staff_cancel_and_the_override_is_audited_once(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    c = await clinic(sessionmaker, client)
    soon = (datetime.now(UTC) + timedelta(hours=3)).replace(second=0, microsecond=0)
    made = await _confirmed(client, c, soon)
    path = f"/appointments/{made['id']}"
    late = await client.request(
        "DELETE", path, headers=c["patient"], json={"reason": "Cannot make it"}
    )
    assert late.status_code == 409, late.text
    # A patient cannot override the limit either; nothing moved, nothing audited.
    forced = await client.request(
        "DELETE", path, headers=c["patient"], json={"reason": "Please", "override": True}
    )
    assert forced.status_code in (403, 409), forced.text
    # (Within 24 h of its start the platform moves it on to awaiting_consultation.)
    assert (await _row(sessionmaker, made["id"])).status in (
        "appointment_confirmed",
        "awaiting_consultation",
    )

    done = await client.request(
        "DELETE",
        path,
        headers=c["coordinator"],
        json={"reason": "The patient is in hospital", "override": True},
    )
    assert done.status_code == 200, done.text
    assert done.json()["data"]["status"] == "cancelled"
    async with sessionmaker() as db:
        audited = list(
            await db.scalars(
                select(AuditLog).where(
                    AuditLog.entity_id == uuid.UUID(made["id"]),
                    AuditLog.action == "appointment.cancel_override",
                )
            )
        )
    assert len(audited) == 1
    assert audited[0].user_id == c.users["coordinator"].id
    assert audited[0].changes == {"role": "coordinator", "reason": "The patient is in hospital"}


async def test_the_timeline_shows_the_moves_and_the_pending_reminders_until_cancelled(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    c = await clinic(sessionmaker, client)
    starts = later(days=3)
    made = await _confirmed(client, c, starts)
    path = f"/appointments/{made['id']}/timeline"
    shown = (await client.get(path, headers=c["patient"])).json()["data"]
    assert [e["status"] for e in shown["events"]] == ["requested", "appointment_confirmed"]
    assert shown["events"][1]["by"]["role"] == "doctor"
    reminders = shown["reminders"]
    assert len(reminders) == 2 and {r["state"] for r in reminders} == {"pending"}
    # Before the start, the earlier one first (24 h and 1 h ahead unless quiet hours move them).
    instants = [datetime.fromisoformat(r["at"]) for r in reminders]
    assert instants == sorted(instants) and instants[-1] <= starts - timedelta(hours=1)
    assert instants[0] <= starts - timedelta(hours=24)

    cancelled = await client.request(
        "DELETE", f"/appointments/{made['id']}", headers=c["patient"], json={"reason": "Better"}
    )
    assert cancelled.status_code == 200, cancelled.text
    after = (await client.get(path, headers=c["patient"])).json()["data"]
    assert after["events"][-1]["status"] == "cancelled"
    assert after["reminders"] == [] and after["waiting_for"] is None


async def test_a_patient_reschedules_at_most_twice_refusals_do_not_count_staff_override(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    c = await clinic(sessionmaker, client)
    first = later(days=4)
    mine = await booked(client, c["patient"], c.doctor_id, first)
    taken = first + timedelta(hours=3)
    await booked(client, c["other_patient"], c.doctor_id, taken)
    path = f"/appointments/{mine['id']}/reschedule"

    async def move_to(when: datetime, who: str = "patient", **extra: Any) -> httpx.Response:
        body = {"new_scheduled_date": when.isoformat(), "reason": "Work", **extra}
        return await client.post(path, headers=c[who], json=body)

    assert (await move_to(first + timedelta(hours=1))).status_code == 200
    # A refused attempt (the slot is someone else's) is not one of the two.
    assert (await move_to(taken)).status_code == 409
    second = await move_to(first + timedelta(hours=2))
    assert second.status_code == 200, second.text
    assert second.json()["data"]["reschedule_count"] == 2

    third = await move_to(first + timedelta(hours=4))
    assert third.status_code == 409, third.text
    assert _error(third)["code"] == "RESCHEDULE_LIMIT_REACHED"
    row = await _row(sessionmaker, mine["id"])
    assert (row.scheduled_date, row.reschedule_count) == (first + timedelta(hours=2), 2)

    # Staff may go past the limit, saying so; the patient may not.
    forced = await move_to(first + timedelta(hours=4), override=True)
    assert forced.status_code in (403, 409), forced.text
    staff = await move_to(first + timedelta(hours=4), "coordinator", override=True)
    assert staff.status_code == 200, staff.text
    assert staff.json()["data"]["reschedule_count"] == 3
    async with sessionmaker() as db:
        audited = list(
            await db.scalars(
                select(AuditLog).where(
                    AuditLog.entity_id == uuid.UUID(mine["id"]),
                    AuditLog.action.like("appointment.%override"),
                )
            )
        )
    assert [a.user_id for a in audited] == [c.users["coordinator"].id]
