"""Subscriptions over HTTP with the real Stripe SDK against localstripe, the real worker and
database: subscribe, pay the first period (the card is saved), read it, cancel and undo, change
the card to one that declines (an upgrade on it is refused, nothing changes), and staff ending
it now with the days left refunded."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.worker import Worker

from domain.access import Role
from domain.models.catalog import Hospital
from domain.models.subscriptions import Subscription
from runtime.settings import Settings
from tests.builders.helpers import eventually
from tests.builders.subscription_builders import (
    DECLINES_CHARGES,
    VISA,
    add_plan,
    stripe_card,
    stripe_customer_pays,
)
from tests.builders.users import create_user, headers_for
from tests.fixtures.payment_fixtures import LocalStripe

pytest_plugins = ["tests.fixtures.payment_fixtures"]

WEBHOOK_SECRET = "whsec_medivoy_subscriptions"


@pytest.fixture
def client(client: httpx.AsyncClient, worker: Worker) -> httpx.AsyncClient:
    return client


@pytest.fixture
def settings(
    make_settings: Callable[..., Settings], localstripe: LocalStripe, tmp_path: Path
) -> Settings:
    return make_settings(
        stripe_secret_key=localstripe.api_key,
        stripe_api_base=localstripe.url,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_setup_future_usage=False,
        storage_dir=str(tmp_path / "files"),
    )


def signed(event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    stamp = int(time.time())
    mac = hmac.new(WEBHOOK_SECRET.encode(), f"{stamp}.{body.decode()}".encode(), hashlib.sha256)
    return body, {"Stripe-Signature": f"t={stamp},v1={mac.hexdigest()}"}


async def webhook_succeeded(client: httpx.AsyncClient, intent_id: str, payment_id: str) -> None:
    body, headers = signed(
        {
            "id": f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "data": {
                "object": {
                    "id": intent_id,
                    "object": "payment_intent",
                    "status": "succeeded",
                    "metadata": {"payment_id": payment_id},
                }
            },
        }
    )
    answer = await client.post(
        "/webhooks/stripe",
        content=body,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text


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


async def test_subscribe_pay_read_cancel_undo_and_a_declining_card(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    localstripe: LocalStripe,
) -> None:
    admin = await create_user(sessionmaker, Role.ADMIN)
    hospital_admin = await create_user(sessionmaker, Role.HOSPITAL_ADMIN)
    other_admin = await create_user(sessionmaker, Role.HOSPITAL_ADMIN)
    doctor = await create_user(sessionmaker, Role.DOCTOR)
    async with sessionmaker() as db, db.begin():
        hospital = Hospital(id=uuid.uuid4(), name="Apollo", admin_user_id=hospital_admin.id)
        db.add(hospital)
        db.add(Hospital(id=uuid.uuid4(), name="Other", admin_user_id=other_admin.id))
    standard = await add_plan(sessionmaker, "Standard", "100.00", "1000.00", max_doctors=5)
    premium = await add_plan(sessionmaker, "Premium", "310.00", "3000.00", max_doctors=50)
    mine = headers_for(hospital_admin)

    refused = await client.post(
        "/subscriptions",
        json={
            "plan_id": str(standard),
            "billing_cycle": "monthly",
            "hospital_id": str(hospital.id),
        },
        headers=headers_for(doctor),
    )
    assert refused.status_code == 403, refused.text

    created = await client.post(
        "/subscriptions",
        json={"plan_id": str(standard), "billing_cycle": "monthly", "payment_gateway": "stripe"},
        headers=mine,
    )
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    sid = data["subscription"]["id"]
    assert data["subscription"]["status"] == "incomplete"
    checkout = data["checkout"]
    assert checkout["client_secret"] and Decimal(checkout["amount"]) == Decimal("100.00")

    card = await asyncio.to_thread(stripe_card, localstripe.url, localstripe.api_key, VISA)
    await asyncio.to_thread(
        stripe_customer_pays, localstripe.url, localstripe.api_key, checkout["gateway_id"], card
    )
    await webhook_succeeded(client, checkout["gateway_id"], checkout["payment_id"])
    row = await stored(sessionmaker, sid, status="active", card_last4="4242")
    assert row.gateway_customer_id and row.gateway_payment_method_id == card
    assert row.start_date is not None and row.end_date is not None
    assert row.next_charge_at == datetime.combine(row.end_date, datetime.min.time(), tzinfo=UTC)
    # The card is the customer's at the gateway: renewals charge it off-session.
    api = stripe.StripeClient(localstripe.api_key, base_addresses={"api": localstripe.url})
    method = await asyncio.to_thread(api.v1.payment_methods.retrieve, card)
    assert method.customer == row.gateway_customer_id

    detail = (await client.get(f"/subscriptions/{sid}", headers=mine)).json()["data"]
    assert detail["plan"]["name"] == "Standard" and detail["current_period"] == 0
    assert Decimal(detail["next_charge_amount"]) == Decimal("100.00")
    assert detail["pending_change"] is None and detail["dunning"] is None
    listed = await client.get("/subscriptions?status=active", headers=mine)
    assert [s["id"] for s in listed.json()["data"]] == [sid]
    others = await client.get("/subscriptions", headers=headers_for(other_admin))
    assert others.json()["data"] == [] and others.json()["meta"]["total"] == 0
    assert (
        await client.get(f"/subscriptions/{sid}", headers=headers_for(other_admin))
    ).status_code == 404

    ending = await client.delete(f"/subscriptions/{sid}", headers=mine)
    assert ending.status_code == 200, ending.text
    assert ending.json()["data"]["auto_renew"] is False
    assert ending.json()["data"]["next_charge_at"] is None
    assert ending.json()["data"]["status"] == "active"
    now_by_subscriber = await client.delete(f"/subscriptions/{sid}?now=true", headers=mine)
    assert now_by_subscriber.status_code == 403
    undone = await client.patch(f"/subscriptions/{sid}", json={"auto_renew": True}, headers=mine)
    assert undone.status_code == 200, undone.text
    assert undone.json()["data"]["auto_renew"] is True
    assert undone.json()["data"]["next_charge_at"] is not None

    declining = await asyncio.to_thread(
        stripe_card, localstripe.url, localstripe.api_key, DECLINES_CHARGES
    )
    changed = await client.patch(
        f"/subscriptions/{sid}", json={"payment_method_id": declining}, headers=mine
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["card_last4"] == "0341"
    upgrade = await client.patch(
        f"/subscriptions/{sid}", json={"plan_id": str(premium)}, headers=mine
    )
    assert upgrade.status_code == 409, upgrade.text
    assert upgrade.json()["error"]["code"] == "UPGRADE_DECLINED"
    after = (await client.get(f"/subscriptions/{sid}", headers=mine)).json()["data"]
    assert after["plan_id"] == str(standard) and Decimal(after["amount"]) == Decimal("100.00")

    timeline = (await client.get(f"/subscriptions/{sid}/timeline", headers=mine)).json()
    kinds = [(e["kind"], e["status"]) for e in timeline["data"]]
    assert ("status", "incomplete") in kinds and ("status", "active") in kinds
    assert ("charge", "completed") in kinds and ("charge", "failed") in kinds

    staff_now = await client.delete(f"/subscriptions/{sid}?now=true", headers=headers_for(admin))
    assert staff_now.status_code == 200, staff_now.text
    assert staff_now.json()["data"]["status"] == "cancelled"
    refunds = await asyncio.to_thread(lambda: api.v1.refunds.list(params={"limit": 10}).data)
    days = (row.end_date - row.start_date).days
    expected = (Decimal("100.00") * (days - 0) / days).quantize(Decimal("0.01"))
    assert [r.amount for r in refunds] == [int(expected * 100)]
    closed = await client.patch(f"/subscriptions/{sid}", json={"auto_renew": True}, headers=mine)
    assert closed.status_code == 409
