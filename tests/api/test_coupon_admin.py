"""Coupons over HTTP: admins create, list, change and delete them; everyone logged in checks a
code against an amount, and the check answers with the terms as they are now."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.access import Role
from domain.models.bookings import Booking
from domain.models.payments import Coupon, Payment
from tests.builders.payment_builders import make_cast
from tests.builders.users import create_user, headers_for

SPRING = {
    "code": "SPRING20",
    "discount_type": "percentage",
    "discount_value": "20",
    "min_purchase_amount": "100",
    "max_discount_amount": "150",
    "valid_from": "2026-03-01",
    "valid_until": "2026-05-31",
    "usage_limit": 50,
}


async def create(client: httpx.AsyncClient, admin: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.post("/coupons", headers=admin, json=body)
    assert response.status_code == 201, response.text
    coupon: dict[str, Any] = response.json()["data"]
    return coupon


async def check(
    client: httpx.AsyncClient, headers: dict[str, str], code: str, amount: str
) -> dict[str, Any]:
    response = await client.get(f"/coupons/{code}", params={"amount": amount}, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["data"]
    return result


def refused_fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    return [d["field"] for d in error["details"]]


async def test_admin_creates_a_coupon_and_its_code_cannot_be_taken_twice(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    admin = headers_for(await create_user(sessionmaker, Role.ADMIN))

    made = await client.post("/coupons", headers=admin, json=SPRING)

    assert made.status_code == 201, made.text
    coupon = made.json()["data"]
    assert uuid.UUID(coupon["id"])
    assert (coupon["code"], coupon["discount_type"]) == ("SPRING20", "percentage")
    assert Decimal(coupon["discount_value"]) == Decimal("20")
    assert Decimal(coupon["min_purchase_amount"]) == Decimal("100")
    assert Decimal(coupon["max_discount_amount"]) == Decimal("150")
    assert (coupon["valid_from"], coupon["valid_until"]) == ("2026-03-01", "2026-05-31")
    assert (coupon["usage_limit"], coupon["usage_count"], coupon["is_active"]) == (50, 0, True)

    # The same code again, even padded with spaces or in other letters, whatever its terms.
    for code in ("SPRING20", "  SPRING20 ", "spring20"):
        again = await client.post(
            "/coupons",
            headers=admin,
            json={"code": code, "discount_type": "fixed", "discount_value": "5"},
        )
        assert again.status_code == 409, again.text
        assert again.json()["error"]["code"] == "COUPON_CODE_TAKEN"
    listed = await client.get("/coupons", headers=admin)
    assert listed.json()["meta"]["total"] == 1
    # Patients type codes as they like: the check is case-blind too.
    checked = await client.get("/coupons/Spring20", params={"amount": "500"}, headers=admin)
    assert checked.json()["data"]["refusal_code"] in (
        None,
        "COUPON_NOT_YET_VALID",
        "COUPON_EXPIRED",
    )
    assert checked.json()["data"]["refusal_code"] != "COUPON_NOT_FOUND"


async def test_coupon_terms_that_make_no_sense_are_refused_naming_the_field(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    admin = headers_for(await create_user(sessionmaker, Role.ADMIN))
    base = {"code": "BAD", "discount_type": "percentage", "discount_value": "10"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"discount_value": "100.01"}, "discount_value"),
        ({"discount_value": "-5"}, "discount_value"),
        ({"discount_value": "0"}, "discount_value"),
        ({"valid_from": "2026-06-01", "valid_until": "2026-05-31"}, "valid_until"),
        ({"min_purchase_amount": "-1"}, "min_purchase_amount"),
        ({"max_discount_amount": "-1"}, "max_discount_amount"),
        ({"usage_limit": 0}, "usage_limit"),
        ({"discount_type": "free"}, "discount_type"),
        ({"code": "TWO WORDS"}, "code"),
        ({"uses": 3}, "uses"),
    ]

    for change, field in cases:
        response = await client.post("/coupons", headers=admin, json={**base, **change})
        assert refused_fields(response) == [field], change

    # A fixed amount has no ceiling of 100; one day of validity is a valid range.
    await create(client, admin, code="BIG", discount_type="fixed", discount_value="250")
    await create(client, admin, **base, valid_from="2026-05-31", valid_until="2026-05-31")
    listed = await client.get("/coupons", headers=admin, params={"sort": "code"})
    assert [c["code"] for c in listed.json()["data"]] == ["BAD", "BIG"]


async def test_admin_finds_coupons_by_code_a_page_at_a_time(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    admin = headers_for(await create_user(sessionmaker, Role.ADMIN))
    for code in ("SUMMER10", "WINTER5", "SUMMER20", "summer_kids"):
        await create(client, admin, code=code, discount_type="fixed", discount_value="5")

    found = await client.get("/coupons", headers=admin, params={"search": "summer", "sort": "code"})

    assert found.status_code == 200, found.text
    assert [c["code"] for c in found.json()["data"]] == ["SUMMER10", "SUMMER20", "SUMMER_KIDS"]
    assert found.json()["meta"] == {"page": 1, "limit": 20, "total": 3}
    second = await client.get(
        "/coupons",
        headers=admin,
        params={"search": "summer", "sort": "code", "limit": 2, "page": 2},
    )
    assert [c["code"] for c in second.json()["data"]] == ["SUMMER_KIDS"]
    assert second.json()["meta"] == {"page": 2, "limit": 2, "total": 3}
    # "_" is a letter of the code, not a wildcard.
    kids = await client.get("/coupons", headers=admin, params={"search": "r_k"})
    assert [c["code"] for c in kids.json()["data"]] == ["SUMMER_KIDS"]
    newest = await client.get("/coupons", headers=admin, params={"sort": "-code", "limit": 1})
    assert [c["code"] for c in newest.json()["data"]] == ["WINTER5"]
    assert newest.json()["meta"]["total"] == 4
    bad_sort = await client.get("/coupons", headers=admin, params={"sort": "discount_value"})
    assert refused_fields(bad_sort) == ["sort"]


async def test_changed_terms_are_what_the_check_answers(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    cast = await make_cast(sessionmaker)
    admin = headers_for(cast.admin)
    patient = headers_for(cast.patient)
    coupon = await create(
        client, admin, code="CARE10", discount_type="percentage", discount_value="10"
    )
    url = f"/coupons/{coupon['id']}"
    before = await check(client, patient, "CARE10", "200.00")
    assert Decimal(before["discount_amount"]) == Decimal("20.00")

    changed = await client.patch(
        url, headers=admin, json={"discount_value": "25", "max_discount_amount": "30"}
    )

    assert changed.status_code == 200, changed.text
    assert Decimal(changed.json()["data"]["discount_value"]) == Decimal("25")
    after = await check(client, patient, "CARE10", "200.00")
    # 25 % of 200 is 50, capped at 30.
    assert after["valid"] is True
    assert Decimal(after["discount_amount"]) == Decimal("30.00")
    assert Decimal(after["amount_due"]) == Decimal("170.00")

    today = datetime.now(UTC).date()
    later = await client.patch(url, headers=admin, json={"valid_from": str(today + timedelta(1))})
    assert later.status_code == 200, later.text
    assert (await check(client, patient, "CARE10", "200"))["refusal_code"] == (
        "COUPON_NOT_YET_VALID"
    )
    await client.patch(url, headers=admin, json={"valid_from": None})

    off = await client.patch(url, headers=admin, json={"is_active": False})
    assert off.status_code == 200 and off.json()["data"]["is_active"] is False
    inactive = await check(client, patient, "CARE10", "200.00")
    assert (inactive["valid"], inactive["refusal_code"]) == (False, "COUPON_INACTIVE")
    on = await client.patch(url, headers=admin, json={"is_active": True})
    assert on.status_code == 200
    assert (await check(client, patient, "CARE10", "200.00"))["valid"] is True


async def test_a_change_that_breaks_the_terms_is_refused_naming_the_field(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    admin = headers_for(await create_user(sessionmaker, Role.ADMIN))
    coupon = await create(
        client,
        admin,
        code="AUTUMN",
        discount_type="percentage",
        discount_value="15",
        valid_from="2026-09-01",
        valid_until="2026-11-30",
    )
    url = f"/coupons/{coupon['id']}"
    cases: list[tuple[dict[str, Any], str]] = [
        # Against the coupon as stored: it is a percentage, valid from 1 September.
        ({"discount_value": "120"}, "discount_value"),
        ({"valid_until": "2026-08-31"}, "valid_until"),
        ({"valid_from": "2026-12-01"}, "valid_from"),
        # Within the change itself.
        ({"valid_from": "2026-10-02", "valid_until": "2026-10-01"}, "valid_until"),
        ({"discount_value": "-1"}, "discount_value"),
        ({"discount_value": None}, "discount_value"),
        ({"is_active": None}, "is_active"),
        ({"usage_limit": 0}, "usage_limit"),
        # The code and the kind of discount are fixed once made.
        ({"code": "WINTER"}, "code"),
        ({"discount_type": "fixed"}, "discount_type"),
    ]

    for change, field in cases:
        response = await client.patch(url, headers=admin, json=change)
        assert refused_fields(response) == [field], change

    unchanged = await client.get("/coupons", headers=admin)
    [row] = unchanged.json()["data"]
    assert Decimal(row["discount_value"]) == Decimal("15")
    assert (row["valid_from"], row["valid_until"]) == ("2026-09-01", "2026-11-30")
    # Both ends moved together are fine; clearing an end is too.
    moved = await client.patch(
        url, headers=admin, json={"valid_from": "2026-12-01", "valid_until": "2027-01-31"}
    )
    assert moved.status_code == 200, moved.text
    cleared = await client.patch(url, headers=admin, json={"valid_from": None})
    assert cleared.status_code == 200 and cleared.json()["data"]["valid_from"] is None
    # Three patients have used it: the limit cannot go below that.
    async with sessionmaker() as db, db.begin():
        await db.execute(
            update(Coupon).where(Coupon.id == uuid.UUID(coupon["id"])).values(usage_count=3)
        )
    too_low = await client.patch(url, headers=admin, json={"usage_limit": 2})
    assert refused_fields(too_low) == ["usage_limit"]
    exact = await client.patch(url, headers=admin, json={"usage_limit": 3})
    assert exact.status_code == 200 and exact.json()["data"]["usage_limit"] == 3
    missing = await client.patch(f"/coupons/{uuid.uuid4()}", headers=admin, json={})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "COUPON_NOT_FOUND"


async def test_deleting_a_coupon_removes_it_unless_a_payment_used_it(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    cast = await make_cast(sessionmaker)
    admin = headers_for(cast.admin)
    patient = headers_for(cast.patient)
    unused = await create(client, admin, code="UNUSED", discount_type="fixed", discount_value="5")
    used = await create(client, admin, code="USED", discount_type="fixed", discount_value="5")
    async with sessionmaker() as db, db.begin():
        booking = Booking(
            id=uuid.uuid4(), booking_number="MV-BK-T-COUPON", patient_id=cast.patient_id
        )
        db.add(booking)
        await db.flush()
        db.add(
            Payment(
                id=uuid.uuid4(),
                transaction_id="MV-PAY-T-COUPON",
                booking_id=booking.id,
                patient_id=cast.patient_id,
                amount=Decimal("95.00"),
                discount_amount=Decimal("5.00"),
                currency="USD",
                payment_gateway="stripe",
                coupon_id=uuid.UUID(used["id"]),
            )
        )

    gone = await client.delete(f"/coupons/{unused['id']}", headers=admin)

    assert gone.status_code == 200, gone.text
    assert gone.json()["message"] == "Coupon deleted"
    assert (await check(client, patient, "UNUSED", "50"))["refusal_code"] == "COUPON_NOT_FOUND"
    again = await client.delete(f"/coupons/{unused['id']}", headers=admin)
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "COUPON_NOT_FOUND"

    # A payment refers to it: kept for the record, but no longer usable.
    kept = await client.delete(f"/coupons/{used['id']}", headers=admin)

    assert kept.status_code == 200, kept.text
    assert "deactivated" in kept.json()["message"]
    assert (await check(client, patient, "USED", "50"))["refusal_code"] == "COUPON_INACTIVE"
    listed = await client.get("/coupons", headers=admin)
    assert [(c["code"], c["is_active"]) for c in listed.json()["data"]] == [("USED", False)]


async def test_only_admins_manage_coupons_but_anyone_may_check_a_code(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    cast = await make_cast(sessionmaker)
    admin = headers_for(cast.admin)
    coupon = await create(client, admin, code="WELCOME", discount_type="fixed", discount_value="5")
    url = f"/coupons/{coupon['id']}"
    body = {"code": "MINE", "discount_type": "percentage", "discount_value": "90"}

    for user in (cast.patient, cast.coordinator):
        headers = headers_for(user)
        attempts = [
            await client.get("/coupons", headers=headers),
            await client.post("/coupons", headers=headers, json=body),
            await client.patch(url, headers=headers, json={"discount_value": "90"}),
            await client.delete(url, headers=headers),
        ]
        assert [r.status_code for r in attempts] == [403] * 4, user.user_type
        result = await check(client, headers, "WELCOME", "40.00")
        assert result["valid"] is True
        assert Decimal(result["discount_amount"]) == Decimal("5.00")

    [row] = (await client.get("/coupons", headers=admin)).json()["data"]
    assert (row["code"], Decimal(row["discount_value"]), row["is_active"]) == (
        "WELCOME",
        Decimal("5.00"),
        True,
    )
    anonymous = await client.get("/coupons/WELCOME", params={"amount": "40"})
    assert anonymous.status_code == 401
