"""Dates at the edge: every date filter of every list, found in the OpenAPI, answers the
extremes (0001-01-01, 9999-12-31) with a correct answer or a clear 422, never a 500; dates a
person gives are bounded (birth not in the future nor before 1900, requested and scheduled dates
not years ahead), and a quotation item must cost something."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from api.dates import latest_plannable
from domain.access import Role
from domain.models.bookings import Booking
from domain.models.care import LabTest
from tests.builders.care_builders import add_lab, team
from tests.builders.users import create_user, headers_for

EXTREMES = {
    "date": ["0001-01-01", "9999-12-31"],
    "date-time": ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59"],
}


def _date_format(schema: dict[str, Any]) -> str | None:
    for option in [schema, *schema.get("anyOf", [])]:
        if option.get("format") in EXTREMES:
            return str(option["format"])
    return None


def date_filters(spec: dict[str, Any], *, with_ids: bool = False) -> list[tuple[str, str, str]]:
    """(path, parameter, format) of every GET that filters by a date: those without ids in
    their path, or (with_ids) those of one object (a doctor's schedule, their appointments)."""
    found = []
    for path, item in spec["paths"].items():
        operation = item.get("get")
        if operation is None or ("{" in path) != with_ids:
            continue
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "query":
                continue
            kind = _date_format(parameter.get("schema", {}))
            if kind:
                found.append((path.removeprefix("/api/v1"), parameter["name"], kind))
    return found


async def test_every_date_filter_answers_the_extremes_without_a_server_error(
    client, sessionmaker, settings
):
    spec = (await client.get("/../../openapi.json")).json()
    filters = date_filters(spec)
    # The sweep found the filters the issue named, so it is looking at the right thing.
    assert ("/bookings", "created_to", "date") in filters
    assert ("/payments", "date_to", "date") in filters
    admin = headers_for(await create_user(sessionmaker, Role.ADMIN), settings)
    answers = {}
    for path, name, kind in filters:
        for value in EXTREMES[kind]:
            response = await client.get(path, params={name: value}, headers=admin)
            answers[(path, name, value)] = response.status_code
            if response.status_code == 422:
                assert response.json()["error"]["code"] in CLEAR_422, response.text
    broken = {k: v for k, v in answers.items() if v not in (200, 422)}
    assert not broken, broken


async def test_the_date_filters_of_one_objects_lists_answer_the_extremes_too(
    app, client, sessionmaker, settings
):
    """The same sweep where the path names an object: a real one (the access matrix's seeded
    rows, read as an admin), so the date is used, not refused with a 404 before it."""
    from tests.builders.access_world import build_world, seed, seeder_for

    spec = (await client.get("/../../openapi.json")).json()
    filters = date_filters(spec, with_ids=True)
    assert ("/doctors/{id}/schedule", "to", "date") in filters
    world = await build_world(sessionmaker, settings, storage=app.state.adapters.storage)
    answers = {}
    for path, name, kind in filters:
        prefix = seeder_for(path)
        assert prefix is not None, f"add a seeder for {path} (tests/builders/access_world.py)"
        seeded = await seed(world, prefix)
        url = path.format(**seeded.params)
        assert (await client.get(url, headers=world.headers("admin"))).status_code == 200, url
        for value in EXTREMES[kind]:
            response = await client.get(url, params={name: value}, headers=world.headers("admin"))
            answers[(path, name, value)] = response.status_code
            if response.status_code == 422:
                assert response.json()["error"]["code"] in CLEAR_422, response.text
    broken = {k: v for k, v in answers.items() if v not in (200, 422)}
    assert not broken, broken


@pytest.mark.parametrize(("path", "name"), [("/bookings", "created_to"), ("/payments", "date_to")])
async def test_the_last_day_there_is_means_everything_up_to_now(
    client, sessionmaker, settings, path, name
):
    admin = headers_for(await create_user(sessionmaker, Role.ADMIN), settings)
    response = await client.get(path, params={name: "9999-12-31"}, headers=admin)
    assert response.status_code == 200
    assert response.json()["success"] is True


# What a refused date says: a field that fails validation, or a range that cannot be answered.
CLEAR_422 = {"VALIDATION_ERROR", "INVALID_RANGE"}


def refused_field(response, field: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert field in [d["field"] for d in body["error"]["details"]]


async def test_a_date_of_birth_in_the_future_or_before_1900_is_refused(
    client, sessionmaker, settings
):
    t = await team(sessionmaker, settings)
    path = f"/patients/{t.patient.patient_id}"
    for born in ("1899-12-31", "0001-01-01", "9999-12-31", "2999-01-01"):
        response = await client.patch(path, json={"date_of_birth": born}, headers=t.patient.headers)
        refused_field(response, "date_of_birth")
    kept = await client.patch(path, json={"date_of_birth": "1900-01-01"}, headers=t.patient.headers)
    assert kept.status_code == 200, kept.text
    assert kept.json()["data"]["date_of_birth"] == "1900-01-01"


async def test_requested_scheduled_and_validity_dates_years_ahead_are_refused(
    client, sessionmaker, settings
):
    t = await team(sessionmaker, settings)
    lab = await add_lab(sessionmaker, t.hospital.id)
    beyond = (latest_plannable(settings) + timedelta(days=1)).isoformat()
    for when in (beyond, "9999-12-31"):
        booked = await client.post(
            "/bookings",
            json={"hospital_id": str(t.hospital.id), "requested_date": when},
            headers=t.patient.headers,
        )
        refused_field(booked, "requested_date")
        edited = await client.patch(
            f"/bookings/{t.booking.id}", json={"requested_date": when}, headers=t.patient.headers
        )
        refused_field(edited, "requested_date")
        quoted = await client.post(
            f"/bookings/{t.booking.id}/quotation",
            json={
                "items": [{"description": "Surgery", "amount": "100.00"}],
                "currency": "USD",
                "valid_until": when,
            },
            headers=t.coordinator.headers,
        )
        refused_field(quoted, "valid_until")
        ordered = await client.post(
            "/lab-tests",
            json={
                "patient_id": str(t.patient.patient_id),
                "test_name": "Complete blood count",
                "lab_id": str(lab.id),
                "scheduled_date": when,
            },
            headers=t.doctor.headers,
        )
        refused_field(ordered, "scheduled_date")
    async with sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(Booking)) == 1
        assert await db.scalar(select(func.count()).select_from(LabTest)) == 0
    within = await client.post(
        "/lab-tests",
        json={
            "patient_id": str(t.patient.patient_id),
            "test_name": "Complete blood count",
            "lab_id": str(lab.id),
            "scheduled_date": latest_plannable(settings).isoformat(),
        },
        headers=t.doctor.headers,
    )
    assert within.status_code == 201, within.text


async def test_a_quotation_item_that_costs_nothing_is_refused(client, sessionmaker, settings):
    t = await team(sessionmaker, settings)
    response = await client.post(
        f"/bookings/{t.booking.id}/quotation",
        json={
            "items": [
                {"description": "Surgery", "amount": "100.00"},
                {"description": "Free airport pickup", "amount": "0"},
            ],
            "currency": "USD",
            "valid_until": (datetime.now(UTC).date() + timedelta(days=30)).isoformat(),
        },
        headers=t.coordinator.headers,
    )
    refused_field(response, "items.1.amount")


async def test_the_dates_of_appointments_waitlists_and_coupons_at_the_extremes(
    client_with_worker, sessionmaker, settings
):
    """The dates a body carries, at the ends of the calendar: a clear 4xx or a stored row, never
    a 5xx (a day or a duration added to 9999-12-31 overflows) and never a stuck workflow (a
    staff override at 0001-01-01 reached AppointmentWorkflow, whose timers overflowed); a
    consultation starts ahead and no further than MEDIVOY_MAX_YEARS_AHEAD, even with an
    override (it lifts the doctor's hours and notice, not the clock)."""
    from domain.models.appointments import Appointment, DoctorWaitlist
    from tests.builders.appointment_builders import booked, clinic, later
    from tests.builders.waitlist_builders import waitlist_cast

    client = client_with_worker
    c = await clinic(sessionmaker, client)
    mine = await booked(client, c["patient"], c.doctor_id, later(days=2))
    cast = await waitlist_cast(sessionmaker, patients=1)
    waiting = headers_for(cast.patients[0].user, settings)
    admin = headers_for(await create_user(sessionmaker, Role.ADMIN), settings)
    beyond = datetime.combine(
        latest_plannable(settings) + timedelta(days=1), datetime.min.time(), tzinfo=UTC
    ).isoformat()
    answers: dict[tuple[str, str], int] = {}
    for when in [*EXTREMES["date-time"][:2], beyond]:
        for who, override in (("patient", False), ("coordinator", True)):
            body = {
                "doctor_id": str(c.doctor_id),
                "scheduled_date": when,
                "chief_complaint": "Persistent headaches",
                "override": override,
            }
            if who == "coordinator":
                body["patient_id"] = str(c.patient_id)
            made = await client.post("/appointments", json=body, headers=c[who])
            answers[(f"POST /appointments as {who}", when)] = made.status_code
            if when == EXTREMES["date-time"][0]:  # an override lifts the hours, not the clock
                assert made.status_code == 422, made.text
                assert made.json()["error"]["code"] == "APPOINTMENT_IN_PAST"
            else:
                refused_field(made, "scheduled_date")
            moved = await client.post(
                f"/appointments/{mine['id']}/reschedule",
                json={"new_scheduled_date": when, "override": override},
                headers=c[who],
            )
            answers[(f"POST /appointments/{{id}}/reschedule as {who}", when)] = moved.status_code
            if when == EXTREMES["date-time"][0]:
                assert moved.status_code == 422, moved.text
                assert moved.json()["error"]["code"] == "APPOINTMENT_IN_PAST"
            else:
                refused_field(moved, "new_scheduled_date")
    for day in EXTREMES["date"]:
        for body in (
            {"date": day},
            {"date_from": day, "date_to": day},
            {"date_from": str(datetime.now(UTC).date()), "date_to": day},
        ):
            joined = await client.post(
                f"/doctors/{cast.doctor_id}/waitlist", json=body, headers=waiting
            )
            answers[("POST /doctors/{id}/waitlist", str(body))] = joined.status_code
        for field in ("valid_from", "valid_until"):
            coupon = await client.post(
                "/coupons",
                json={
                    "code": f"EDGE{field[-4:].upper()}{day[:4]}",
                    "discount_type": "percentage",
                    "discount_value": "10",
                    field: day,
                },
                headers=admin,
            )
            answers[("POST /coupons", f"{field}={day}")] = coupon.status_code
    broken = {k: v for k, v in answers.items() if v >= 500}
    assert not broken, broken
    async with sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(Appointment)) == 1
        assert await db.scalar(select(func.count()).select_from(DoctorWaitlist)) == 0
    kept = (await client.get(f"/appointments/{mine['id']}", headers=c["patient"])).json()["data"]
    assert kept["scheduled_date"] == mine["scheduled_date"]
