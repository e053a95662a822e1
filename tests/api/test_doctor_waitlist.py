"""A doctor's waitlist over HTTP: joining (dates validated), leaving, who sees it, and the offered
slot, held for the patient it is offered to: they book it, anyone else gets 409 SLOT_TAKEN, and
the schedule shows it free to them only. The last test runs the real worker on the dev server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from domain.access import Role
from domain.models.appointments import DoctorWaitlist
from domain.models.catalog import Doctor
from tests.builders.catalog_builders import add_hospital, affiliate
from tests.builders.helpers import eventually, outbox_for
from tests.builders.temporal_histories import found_in, ui_view
from tests.builders.users import create_user, headers_for
from tests.builders.waitlist_builders import (
    WaitlistCast,
    entry_status,
    holders,
    patient,
    slot_in,
    waitlist_cast,
)
from workflows.messages import waitlist_workflow_id

TODAY = datetime.now(UTC).date()


def path(cast: WaitlistCast) -> str:
    return f"/doctors/{cast.doctor_id}/waitlist"


async def rows(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(DoctorWaitlist)) or 0)


async def join(
    client: httpx.AsyncClient, cast: WaitlistCast, user: Any, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(path(cast), json=body, headers=headers_for(user))


async def test_a_patient_joins_for_a_date_or_a_range_once(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    cast = await waitlist_cast(sessionmaker, patients=1)
    who = cast.patients[0]
    day = TODAY + timedelta(days=3)

    one = await join(client, cast, who.user, {"date": day.isoformat()})
    assert one.status_code == 201, one.text
    entry = one.json()["data"]
    assert entry["status"] == "waiting"
    assert (entry["date_from"], entry["date_to"]) == (day.isoformat(), day.isoformat())
    assert entry["patient_id"] == str(who.patient_id)
    assert entry["timezone"] == "UTC"

    later = {
        "date_from": (day + timedelta(days=5)).isoformat(),
        "date_to": (day + timedelta(days=9)).isoformat(),
    }
    ranged = await join(client, cast, who.user, later)
    assert ranged.status_code == 201, ranged.text
    assert ranged.json()["data"]["date_to"] == later["date_to"]

    # Dates that overlap an open entry: 409, nothing added.
    again = await join(
        client,
        cast,
        who.user,
        {"date_from": (day - timedelta(days=1)).isoformat(), "date_to": day.isoformat()},
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "ALREADY_ON_WAITLIST"
    assert again.json()["error"]["details"]["entry_id"] == entry["id"]
    assert await rows(sessionmaker) == 2


async def test_waitlist_dates_are_today_to_180_days_ahead_in_the_patients_zone(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    cast = await waitlist_cast(sessionmaker, patients=0)
    # Kiritimati is UTC+14: its today may be a day past UTC's; its yesterday is refused.
    far_east = await patient(sessionmaker, zone="Pacific/Kiritimati")
    local_today = datetime.now(UTC).astimezone(ZoneInfo("Pacific/Kiritimati")).date()
    bad: list[tuple[dict[str, Any], str]] = [
        ({"date": (local_today - timedelta(days=1)).isoformat()}, "date"),
        ({"date": (local_today + timedelta(days=181)).isoformat()}, "date"),
        (
            {
                "date_from": local_today.isoformat(),
                "date_to": (local_today + timedelta(days=181)).isoformat(),
            },
            "date_to",
        ),
        (
            {
                "date_from": (local_today + timedelta(days=4)).isoformat(),
                "date_to": (local_today + timedelta(days=2)).isoformat(),
            },
            "",
        ),
        ({}, ""),
        ({"date_from": local_today.isoformat()}, ""),
        ({"date": local_today.isoformat(), "date_to": local_today.isoformat()}, ""),
        ({"date": "next tuesday"}, "date"),
    ]
    for body, field in bad:
        response = await join(client, cast, far_east.user, body)
        assert response.status_code == 422, (body, response.text)
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_ERROR"
        if field:
            assert error["details"][0]["field"] == field, (body, error)
    assert await rows(sessionmaker) == 0
    for day in (local_today, local_today + timedelta(days=180)):
        ok = await join(client, cast, far_east.user, {"date": day.isoformat()})
        assert ok.status_code == 201, ok.text
        assert ok.json()["data"]["timezone"] == "Pacific/Kiritimati"


async def test_only_patients_join_and_only_a_visible_doctors_list(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    cast = await waitlist_cast(sessionmaker, patients=1)
    body = {"date": (TODAY + timedelta(days=2)).isoformat()}
    coordinator = await create_user(sessionmaker, Role.COORDINATOR)
    for user in (cast.doctor, coordinator, cast.admin):
        response = await join(client, cast, user, body)
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    # The role is checked before the body is read.
    assert (await join(client, cast, coordinator, {"date": "nope"})).status_code == 403
    assert (await client.post(path(cast), json=body)).status_code == 401
    unknown = await client.post(
        f"/doctors/{uuid.uuid4()}/waitlist", json=body, headers=headers_for(cast.patients[0].user)
    )
    assert unknown.status_code == 404
    assert await rows(sessionmaker) == 0


async def test_leaving_is_for_the_entrys_patient_and_staff(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    cast = await waitlist_cast(sessionmaker, patients=2)
    mine, other = cast.patients
    coordinator = await create_user(sessionmaker, Role.COORDINATOR)
    first = (
        await join(client, cast, mine.user, {"date": (TODAY + timedelta(days=2)).isoformat()})
    ).json()["data"]
    second = (
        await join(client, cast, mine.user, {"date": (TODAY + timedelta(days=4)).isoformat()})
    ).json()["data"]

    def leave(entry: dict[str, Any], user: Any) -> Any:
        return client.delete(f"{path(cast)}/{entry['id']}", headers=headers_for(user))

    assert (await leave(first, other.user)).status_code == 404
    doctor = await leave(first, cast.doctor)
    assert doctor.status_code == 403 and doctor.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    assert await entry_status(sessionmaker, uuid.UUID(first["id"])) == "waiting"

    left = await leave(first, mine.user)
    assert left.status_code == 200, left.text
    assert left.json()["data"]["status"] == "left"
    closed = await leave(first, mine.user)
    assert closed.status_code == 409
    assert closed.json()["error"]["code"] == "WAITLIST_ENTRY_CLOSED"

    by_staff = await leave(second, coordinator)
    assert by_staff.status_code == 200 and by_staff.json()["data"]["status"] == "left"
    assert await entry_status(sessionmaker, uuid.UUID(second["id"])) == "left"
    # An entry of another doctor is not found on this one.
    elsewhere = await waitlist_cast(sessionmaker, patients=0)
    assert (
        await client.delete(f"{path(elsewhere)}/{first['id']}", headers=headers_for(coordinator))
    ).status_code == 404


async def test_the_doctor_their_hospital_admin_and_staff_see_the_waitlist_a_patient_their_own(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    cast = await waitlist_cast(sessionmaker, patients=2)
    first, second = cast.patients
    for who, days in ((first, 2), (second, 3)):
        joined = await join(
            client, cast, who.user, {"date": (TODAY + timedelta(days=days)).isoformat()}
        )
        assert joined.status_code == 201
    hospital_admin = await create_user(sessionmaker, Role.HOSPITAL_ADMIN)
    hospital = await add_hospital(sessionmaker, admin_user_id=hospital_admin.id)
    async with sessionmaker() as db:
        doctor = await db.get(Doctor, cast.doctor_id)
    assert doctor is not None
    await affiliate(sessionmaker, hospital, doctor)
    other_admin = await create_user(sessionmaker, Role.HOSPITAL_ADMIN)
    other_doctor = await create_user(sessionmaker, Role.DOCTOR)
    coordinator = await create_user(sessionmaker, Role.COORDINATOR)

    for user in (cast.doctor, hospital_admin, coordinator, cast.admin):
        seen = await client.get(path(cast), headers=headers_for(user))
        assert seen.status_code == 200, seen.text
        items = seen.json()["data"]
        assert [i["patient_id"] for i in items] == [str(first.patient_id), str(second.patient_id)]
        assert items[0]["patient_name"] == f"{first.user.first_name} {first.user.last_name}"

    own = await client.get(path(cast), headers=headers_for(second.user))
    assert own.status_code == 200
    assert [i["patient_id"] for i in own.json()["data"]] == [str(second.patient_id)]
    assert own.json()["data"][0]["patient_name"] is None

    for user in (other_admin, other_doctor):
        refused = await client.get(path(cast), headers=headers_for(user))
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "NOT_THIS_DOCTOR"
    filtered = await client.get(
        path(cast), params={"status": "offered"}, headers=headers_for(cast.doctor)
    )
    assert filtered.json()["data"] == []


async def test_the_offered_slot_is_held_for_its_patient_who_books_it_others_409(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
    temporal_client: Client,
) -> None:
    cast = await waitlist_cast(sessionmaker, patients=3)
    first, waiting, other = cast.patients
    slot = slot_in(3)

    def book(who: Any) -> Any:
        return client.post(
            "/appointments",
            json={"doctor_id": str(cast.doctor_id), "scheduled_date": slot.isoformat()},
            headers=headers_for(who.user),
        )

    booked = await book(first)
    assert booked.status_code == 201, booked.text
    joined = await join(client, cast, waiting.user, {"date": slot.date().isoformat()})
    entry_id = uuid.UUID(joined.json()["data"]["id"])

    cancelled = await client.request(
        "DELETE",
        f"/appointments/{booked.json()['data']['id']}",
        json={"reason": "cannot make it"},
        headers=headers_for(first.user),
    )
    assert cancelled.status_code == 200, cancelled.text

    # The freed slot is offered to the waiting patient: held, and told.
    await eventually(lambda: _status_is(sessionmaker, entry_id, "offered"), within=30)
    assert await holders(sessionmaker, cast.doctor_id) == [waiting.patient_id]
    mail = (await outbox_for(sessionmaker, waiting.user.email))[-1]
    assert mail.subject.startswith("A slot with Ada Waits is free")
    listed = (await client.get(path(cast), headers=headers_for(waiting.user))).json()["data"][0]
    assert listed["status"] == "offered"
    assert datetime.fromisoformat(listed["offered_start"]) == slot
    expires = datetime.fromisoformat(listed["offer_expires_at"])
    assert timedelta(minutes=29) < expires - datetime.now(UTC) <= timedelta(minutes=30)
    # The Temporal UI names the doctor's waitlist and its open hold (ids only), until when.
    shown = await ui_view(temporal_client, waitlist_workflow_id(cast.doctor_id))
    assert shown.static_summary == f"Waitlist of doctor {cast.doctor_id}"
    assert "`1 open offers, 0 slots to offer, 1 made`" in shown.current_details
    assert f"until {expires.astimezone(UTC):%Y-%m-%d %H:%M} UTC" in shown.current_details
    emails = {p.user.email for p in cast.patients}
    assert found_in([t.encode() for t in shown.texts()], emails) == set()

    # The schedule shows it free to the holder only.
    async def free_for(who: Any) -> bool:
        day = slot.date().isoformat()
        response = await client.get(
            f"/doctors/{cast.doctor_id}/schedule",
            params={"from": day, "to": day, "tz": "UTC"},
            headers=headers_for(who.user) if who is not None else {},
        )
        assert response.status_code == 200, response.text
        return any(
            datetime.fromisoformat(s["starts_at"]) == slot for s in response.json()["data"]["slots"]
        )

    assert await free_for(waiting)
    assert not await free_for(other)
    assert not await free_for(None)  # nor to anyone browsing without a login

    taken = await book(other)
    assert taken.status_code == 409, taken.text
    assert taken.json()["error"]["code"] == "SLOT_TAKEN"
    assert all(
        datetime.fromisoformat(s["starts_at"]) != slot
        for s in taken.json()["error"]["details"]["next_slots"]
    )

    mine = await book(waiting)
    assert mine.status_code == 201, mine.text
    assert mine.json()["data"]["patient_id"] == str(waiting.patient_id)
    assert await entry_status(sessionmaker, entry_id) == "booked"
    assert await holders(sessionmaker, cast.doctor_id) == []
    assert not await free_for(other)


async def _status_is(
    sessionmaker: async_sessionmaker[AsyncSession], entry_id: uuid.UUID, status: str
) -> bool:
    return await entry_status(sessionmaker, entry_id) == status


async def test_an_offered_patient_who_leaves_passes_the_slot_to_the_next_at_once(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    cast = await waitlist_cast(sessionmaker, patients=3)
    holder, first, second = cast.patients
    slot = slot_in(4)
    booked = await client.post(
        "/appointments",
        json={"doctor_id": str(cast.doctor_id), "scheduled_date": slot.isoformat()},
        headers=headers_for(holder.user),
    )
    assert booked.status_code == 201, booked.text
    entries = []
    for who in (first, second):
        joined = await join(client, cast, who.user, {"date": slot.date().isoformat()})
        entries.append(uuid.UUID(joined.json()["data"]["id"]))
    cancelled = await client.request(
        "DELETE",
        f"/appointments/{booked.json()['data']['id']}",
        json={"reason": "plans changed"},
        headers=headers_for(holder.user),
    )
    assert cancelled.status_code == 200, cancelled.text
    await eventually(lambda: _status_is(sessionmaker, entries[0], "offered"), within=30)

    left = await client.delete(f"{path(cast)}/{entries[0]}", headers=headers_for(first.user))
    assert left.status_code == 200, left.text
    assert left.json()["data"]["status"] == "left"
    # Long before the first offer's 30 minutes are up, the next patient holds the slot.
    await eventually(lambda: _status_is(sessionmaker, entries[1], "offered"), within=30)
    assert await holders(sessionmaker, cast.doctor_id) == [second.patient_id]
    assert await entry_status(sessionmaker, entries[0]) == "left"


async def test_an_entry_whose_dates_are_past_is_listed_expired_not_waiting(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    cast = await waitlist_cast(sessionmaker, patients=2)
    first, second = cast.patients
    joined = await join(client, cast, first.user, {"date": TODAY.isoformat()})
    assert joined.status_code == 201
    # Joined for today, now the day is over (as the days pass): stored as it was.
    async with sessionmaker() as db, db.begin():
        entry = await db.get(DoctorWaitlist, uuid.UUID(joined.json()["data"]["id"]))
        assert entry is not None
        entry.date_from = entry.date_to = TODAY - timedelta(days=2)
    current = await join(
        client, cast, second.user, {"date": (TODAY + timedelta(days=1)).isoformat()}
    )
    assert current.status_code == 201

    waiting = await client.get(
        path(cast), params={"status": "waiting"}, headers=headers_for(cast.doctor)
    )
    assert [i["patient_id"] for i in waiting.json()["data"]] == [str(second.patient_id)]
    everything = await client.get(path(cast), headers=headers_for(first.user))
    assert [i["status"] for i in everything.json()["data"]] == ["expired"]
    assert await entry_status(sessionmaker, entry.id) == "expired"
    # An expired entry is closed: nothing to leave.
    left = await client.delete(f"{path(cast)}/{entry.id}", headers=headers_for(first.user))
    assert left.status_code == 409 and left.json()["error"]["code"] == "WAITLIST_ENTRY_CLOSED"
