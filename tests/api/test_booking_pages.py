"""Booking list pages: `after=` cursors next to `page=`, and the capped exact total (api/paging.py).

Bookings are written by SQL (as `make bench` seeds them): lists read the table only, so no
workflow is needed; rows inserted during a walk get `now()` as a create does."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.models.users import Patient, User
from runtime.settings import Settings
from tests.builders.booking_builders import People, booking_people

EXACT_MAX = 25


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(list_exact_total_max=EXACT_MAX)


@pytest_asyncio.fixture(loop_scope="session")
async def people(sessionmaker: async_sessionmaker[AsyncSession]) -> People:
    return await booking_people(sessionmaker)


async def _patient_ids(sessionmaker: async_sessionmaker[AsyncSession]) -> list[uuid.UUID]:
    async with sessionmaker() as db:
        return list(
            await db.scalars(
                select(Patient.id)
                .join(User, User.id == Patient.user_id)
                .order_by(User.first_name.desc())  # "Patient" before "OtherPatient"
            )
        )


async def _seed(
    sessionmaker: async_sessionmaker[AsyncSession],
    people: People,
    *,
    rows: int,
    patient_id: uuid.UUID,
    statuses: list[str],
    minutes_back: int = 1,
    same_time: bool = False,
) -> None:
    """`rows` bookings of one patient at the people's hospital, spread over `statuses`, one a
    minute back in time (or all at one instant, to test the id tie-break)."""
    async with sessionmaker() as db, db.begin():
        await db.execute(
            text(
                """
                INSERT INTO bookings (id, booking_number, patient_id, hospital_id, treatment_id,
                    booking_type, status, status_seq, payment_status, created_at, updated_at)
                SELECT gen_random_uuid(), 'MV-BK-T-' || :tag || '-' || g, :patient, :hospital,
                    :treatment, 'treatment',
                    (CAST(:statuses AS text[]))[1 + g % cardinality(CAST(:statuses AS text[]))],
                    1, 'unpaid',
                    date_trunc('second', now()) - (CASE WHEN :same THEN :back ELSE g + :back END)
                        * interval '1 minute',
                    now()
                FROM generate_series(1, :rows) AS g
                """
            ),
            {
                "tag": secrets.token_hex(4),
                "patient": patient_id,
                "hospital": people.hospital_id,
                "treatment": people.treatment_id,
                "statuses": statuses,
                "rows": rows,
                "back": minutes_back,
                "same": same_time,
            },
        )
        await db.execute(text("ANALYZE bookings"))


async def _insert_now(
    sessionmaker: async_sessionmaker[AsyncSession], people: People, patient_id: uuid.UUID
) -> None:
    """One booking created now, as a create writes it."""
    async with sessionmaker() as db, db.begin():
        await db.execute(
            text(
                """
                INSERT INTO bookings (id, booking_number, patient_id, hospital_id, treatment_id,
                    booking_type, status, status_seq, payment_status)
                VALUES (gen_random_uuid(), 'MV-BK-NOW-' || :tag, :patient, :hospital,
                    :treatment, 'treatment', 'requested', 1, 'unpaid')
                """
            ),
            {
                "tag": secrets.token_hex(6),
                "patient": patient_id,
                "hospital": people.hospital_id,
                "treatment": people.treatment_id,
            },
        )


async def _newest_first(
    sessionmaker: async_sessionmaker[AsyncSession], where: str = "true", **params: Any
) -> list[str]:
    async with sessionmaker() as db:
        result = await db.execute(
            text(f"SELECT id FROM bookings WHERE {where} ORDER BY created_at DESC, id DESC"),
            params,
        )
        return [str(r[0]) for r in result]


async def _walk(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    params: dict[str, Any],
    between: Callable[[], Any] | None = None,
    path: str = "/bookings",
) -> tuple[list[str], list[dict[str, Any]]]:
    """Every page by `after=` from the first; `between` runs after each page."""
    ids: list[str] = []
    metas: list[dict[str, Any]] = []
    response = await client.get(path, headers=headers, params=params)
    for _ in range(1000):
        assert response.status_code == 200, response.text
        body = response.json()
        ids += [b["id"] for b in body["data"]]
        metas.append(body["meta"])
        if body["meta"]["next"] is None:
            return ids, metas
        if between is not None:
            await between()
        response = await client.get(
            path, headers=headers, params={**params, "after": body["meta"]["next"]}
        )
    raise AssertionError("the walk did not end")


async def test_a_cursor_walk_sees_every_row_once_while_bookings_are_created(
    client, people, sessionmaker
):
    patient, other = await _patient_ids(sessionmaker)
    await _seed(sessionmaker, people, rows=40, patient_id=patient, statuses=["requested"])
    # Eleven at one instant: the pages must split them by id, none twice, none left out.
    await _seed(
        sessionmaker,
        people,
        rows=11,
        patient_id=other,
        statuses=["requested"],
        minutes_back=20,
        same_time=True,
    )
    before = await _newest_first(sessionmaker)

    async def create_one() -> None:
        await _insert_now(sessionmaker, people, patient)

    ids, metas = await _walk(client, people.admin, {"limit": 7}, between=create_one)

    assert ids == before  # each once, newest first; the ones created meanwhile come before it
    assert [m["page"] for m in metas] == list(range(1, len(metas) + 1))
    assert len(metas) == 8 and all(m["limit"] == 7 for m in metas)
    assert metas[-1]["next"] is None


async def test_a_cursor_walk_stays_exact_under_concurrent_creates(client, people, sessionmaker):
    patient, _ = await _patient_ids(sessionmaker)
    await _seed(sessionmaker, people, rows=60, patient_id=patient, statuses=["requested"])
    before = await _newest_first(sessionmaker)
    stop = asyncio.Event()

    async def keep_creating() -> int:
        made = 0
        while not stop.is_set():
            await _insert_now(sessionmaker, people, patient)
            made += 1
            await asyncio.sleep(0)
        return made

    creating = asyncio.create_task(keep_creating())
    try:
        ids, _ = await _walk(client, people.hospital_admin, {"limit": 4})
    finally:
        stop.set()
    made = await creating

    assert made > 0
    assert len(ids) == len(set(ids))
    assert set(before) <= set(ids)
    assert [i for i in ids if i in set(before)] == before


async def test_cursor_pages_follow_the_filters_and_the_callers_scope(client, people, sessionmaker):
    patient, other = await _patient_ids(sessionmaker)
    statuses = ["requested", "under_review", "confirmed"]
    await _seed(sessionmaker, people, rows=30, patient_id=patient, statuses=statuses)
    await _seed(sessionmaker, people, rows=12, patient_id=other, statuses=statuses)

    confirmed, metas = await _walk(client, people.admin, {"status": "confirmed", "limit": 3})
    assert confirmed == await _newest_first(sessionmaker, "status = 'confirmed'")
    assert len(confirmed) == 14
    assert all(m["total"] == 14 and m["total_exact"] for m in metas)

    mine, metas = await _walk(client, people.patient, {"limit": 5})
    assert mine == await _newest_first(sessionmaker, "patient_id = :p", p=patient)
    assert {m["total"] for m in metas} == {30}

    theirs, _ = await _walk(
        client, people.admin, {"patient_id": str(other), "status": "under_review", "limit": 2}
    )
    assert theirs == await _newest_first(
        sessionmaker, "patient_id = :p AND status = 'under_review'", p=other
    )
    nested, _ = await _walk(client, people.admin, {"limit": 5}, path=f"/patients/{other}/bookings")
    assert nested == await _newest_first(sessionmaker, "patient_id = :p", p=other)

    elsewhere, metas = await _walk(client, people.other_hospital_admin, {"limit": 5})
    assert elsewhere == [] and metas == [
        {"page": 1, "limit": 5, "total": 0, "total_exact": True, "next": None}
    ]


async def test_page_and_cursor_give_the_same_pages(client, people, sessionmaker):
    patient, _ = await _patient_ids(sessionmaker)
    await _seed(sessionmaker, people, rows=20, patient_id=patient, statuses=["requested"])

    first = (await client.get("/bookings", headers=people.admin, params={"limit": 6})).json()
    by_page = await client.get("/bookings", headers=people.admin, params={"limit": 6, "page": 2})
    by_cursor = await client.get(
        "/bookings", headers=people.admin, params={"limit": 6, "after": first["meta"]["next"]}
    )

    assert by_page.json()["data"] == by_cursor.json()["data"]
    assert by_page.json()["meta"]["page"] == by_cursor.json()["meta"]["page"] == 2
    assert first["meta"] == {
        "page": 1,
        "limit": 6,
        "total": 20,
        "total_exact": True,
        "next": first["meta"]["next"],
    }
    last = await client.get("/bookings", headers=people.admin, params={"limit": 6, "page": 4})
    assert len(last.json()["data"]) == 2 and last.json()["meta"]["next"] is None


async def test_the_total_is_exact_up_to_the_limit_and_an_estimate_above(
    client, people, sessionmaker
):
    patient, other = await _patient_ids(sessionmaker)
    await _seed(sessionmaker, people, rows=57, patient_id=patient, statuses=["requested"])
    await _seed(sessionmaker, people, rows=5, patient_id=other, statuses=["confirmed"])

    big = (await client.get("/bookings", headers=people.admin, params={"limit": 10})).json()
    assert big["meta"]["total_exact"] is False
    assert EXACT_MAX < big["meta"]["total"] <= 10 * 62
    assert len(big["data"]) == 10

    # The last page knows the figure: everything before it plus itself.
    last = await client.get("/bookings", headers=people.admin, params={"limit": 10, "page": 7})
    assert len(last.json()["data"]) == 2
    assert last.json()["meta"] == {
        "page": 7,
        "limit": 10,
        "total": 62,
        "total_exact": True,
        "next": None,
    }
    # Past the end: nothing, and no claim of more than is there to skip.
    past = await client.get("/bookings", headers=people.admin, params={"limit": 10, "page": 40})
    assert past.json()["data"] == [] and past.json()["meta"]["next"] is None
    assert EXACT_MAX < past.json()["meta"]["total"] <= 390

    small = await client.get("/bookings", headers=people.admin, params={"status": "confirmed"})
    assert small.json()["meta"]["total"] == 5 and small.json()["meta"]["total_exact"] is True
    theirs = await client.get("/bookings", headers=people.other_patient)
    assert theirs.json()["meta"]["total"] == 5 and theirs.json()["meta"]["total_exact"] is True


async def test_a_bad_cursor_or_page_with_after_is_a_clear_400(client, people, sessionmaker):
    patient, _ = await _patient_ids(sessionmaker)
    await _seed(sessionmaker, people, rows=3, patient_id=patient, statuses=["requested"])
    first = (await client.get("/bookings", headers=people.admin, params={"limit": 1})).json()

    both = await client.get(
        "/bookings", headers=people.admin, params={"page": 2, "after": first["meta"]["next"]}
    )
    assert both.status_code == 400 and both.json()["error"]["code"] == "PAGE_AND_AFTER"
    odd = [
        ["x", "y", 1],
        ["2026-12-03T10:00:00", str(uuid.uuid4()), 2],  # no zone
        ["0001-01-01T00:00:00+14:00", str(uuid.uuid4()), 2],  # before year 1 in UTC
        ["2026-12-03T10:00:00+00:00", str(uuid.uuid4()), 1e300],
        ["2026-12-03T10:00:00+00:00", str(uuid.uuid4()), 0],
        {"a": 1, "b": 2, "c": 3},
    ]
    encoded = [base64.urlsafe_b64encode(json.dumps(o).encode()).decode().rstrip("=") for o in odd]
    for cursor in ("not-a-cursor", "W10", "%%%", *encoded):
        bad = await client.get("/bookings", headers=people.admin, params={"after": cursor})
        assert bad.status_code == 400, (cursor, bad.text)
        assert bad.json()["error"]["code"] == "INVALID_CURSOR"
