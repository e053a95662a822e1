"""Subscriptions on Razorpay over HTTP with the real razorpay SDK against the local Razorpay, the
real worker and database: POST /subscriptions with payment_gateway razorpay answers an order made
for the subscription's customer that asks for a recurring token; the subscriber pays it at
Checkout (recurring: 1), Razorpay's signed webhook arrives, and the subscription is active with
the saved token (the card's last digits) that its renewals are charged on."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.worker import Worker

from domain.access import Role
from domain.models.catalog import Hospital
from domain.models.subscriptions import Subscription
from runtime.settings import Settings
from tests.builders.helpers import eventually
from tests.builders.subscription_builders import add_plan
from tests.builders.users import create_user, headers_for

if TYPE_CHECKING:
    from tests.fixtures.razorpay_fixtures import LocalRazorpay

pytest_plugins = ["tests.fixtures.razorpay_fixtures"]


@pytest.fixture
def client(client: httpx.AsyncClient, worker: Worker) -> httpx.AsyncClient:
    return client


@pytest.fixture
def settings(
    make_settings: Callable[..., Settings], local_razorpay: LocalRazorpay, tmp_path: Path
) -> Settings:
    return make_settings(
        razorpay_key_id=local_razorpay.key_id,
        razorpay_key_secret=SecretStr(local_razorpay.key_secret),
        razorpay_webhook_secret=SecretStr(local_razorpay.webhook_secret),
        razorpay_base_url=local_razorpay.url,
        storage_dir=str(tmp_path / "files"),
    )


async def stored(
    sessionmaker: async_sessionmaker[AsyncSession], sid: str, **expected: Any
) -> Subscription:
    async def probe() -> Subscription | None:
        async with sessionmaker() as db:
            row = await db.get(Subscription, uuid.UUID(sid))
        if row is None or any(getattr(row, k) != v for k, v in expected.items()):
            return None
        return row

    return await eventually(probe, within=60)


async def test_a_razorpay_subscription_is_paid_at_checkout_and_keeps_its_recurring_token(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    local_razorpay: LocalRazorpay,
) -> None:
    hospital_admin = await create_user(sessionmaker, Role.HOSPITAL_ADMIN)
    async with sessionmaker() as db, db.begin():
        hospital = Hospital(id=uuid.uuid4(), name="Apollo", admin_user_id=hospital_admin.id)
        db.add(hospital)
    standard = await add_plan(sessionmaker, "Standard", "100.00", "1000.00", max_doctors=5)
    mine = headers_for(hospital_admin)

    created = await client.post(
        "/subscriptions",
        json={
            "plan_id": str(standard),
            "billing_cycle": "monthly",
            "payment_gateway": "razorpay",
        },
        headers=mine,
    )
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    sid = data["subscription"]["id"]
    assert data["subscription"]["status"] == "incomplete"
    checkout = data["checkout"]
    assert checkout["gateway"] == "razorpay" and checkout["key_id"] == local_razorpay.key_id
    assert Decimal(checkout["amount"]) == Decimal("100.00")
    order_id = checkout["order_id"]
    # The order is the authorisation of recurring card payments: the subscription's customer,
    # method card and a token block.
    sent = next(
        r.json()
        for r in local_razorpay.orders_created()
        if r.json()["receipt"] == (checkout["payment_id"])
    )
    row = await stored(sessionmaker, sid)
    assert row.gateway_customer_id is not None
    assert sent["customer_id"] == row.gateway_customer_id and sent["method"] == "card"
    # What Razorpay Checkout opens with to save the card: the customer and recurring: 1.
    assert checkout["customer_id"] == row.gateway_customer_id and checkout["recurring"] is True
    assert sent["token"]["max_amount"] >= 10000
    assert local_razorpay.customers[row.gateway_customer_id]["notes"]["subscription_id"] == sid

    paid = local_razorpay.customer_pays(
        order_id, recurring=True, email="billing@apollo.example", contact="+914400000000"
    )
    raw, headers = local_razorpay.webhook("payment.captured", paid["id"])
    answer = await client.post("/webhooks/razorpay", content=raw, headers=headers)
    assert answer.status_code == 200, answer.text

    active = await stored(sessionmaker, sid, status="active", card_last4="1111")
    assert active.gateway_payment_method_id == paid["token_id"]
    assert active.start_date is not None and active.end_date is not None
    # The token is the customer's and confirmed for recurring debits; the renewal will name
    # the e-mail and phone Checkout collected, kept on the customer.
    (token,) = local_razorpay.tokens_of(row.gateway_customer_id)
    assert token["id"] == paid["token_id"] and token["recurring_details"]["status"] == "confirmed"
    customer = local_razorpay.customers[row.gateway_customer_id]
    assert (customer["email"], customer["contact"]) == ("billing@apollo.example", "+914400000000")

    detail = (await client.get(f"/subscriptions/{sid}", headers=mine)).json()["data"]
    assert detail["status"] == "active" and detail["card_last4"] == "1111"
    assert Decimal(detail["next_charge_amount"]) == Decimal("100.00")
    assert detail["next_charge_at"] is not None

    # A token of someone else's customer is refused, and nothing changes.
    stranger = local_razorpay.another_customers_token()
    refused = await client.patch(
        f"/subscriptions/{sid}", json={"payment_method_id": stranger["id"]}, headers=mine
    )
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == "GATEWAY_REJECTED"
    kept = await stored(sessionmaker, sid, status="active")
    assert kept.gateway_payment_method_id == paid["token_id"] and kept.card_last4 == "1111"
