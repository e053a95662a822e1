"""The scheduled chores run by the production worker: a roll-up backfill rebuilds a range
identically (whatever happened to its rows), the clean-up removes exactly what can go and says
so, and payment reminders go out once per debt and step, in the patient's language."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from activities.analytics import AnalyticsActivities, RollUpInput
from activities.providers.storage import new_key
from activities.providers.wiring import build_storage
from cli.schedules import backfill_roll_up
from domain.access import Role
from domain.models.analytics import AnalyticsDaily
from domain.models.bookings import Booking, BookingStatusHistory
from domain.models.content import Media
from domain.models.notifications import OutboxAttachment, OutboxMessage
from domain.models.payments import Invoice
from domain.models.users import EmailVerification, PasswordReset, RefreshToken, User
from runtime.settings import Settings
from tests.builders.analytics_builders import ZONE, analytics_world
from tests.builders.catalog_builders import patient_of
from tests.builders.helpers import eventually
from tests.builders.users import create_user
from workflows.maintenance import PaymentReminderWorkflow, PlatformCleanupWorkflow

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
def settings(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    return make_settings(analytics_timezone=ZONE, storage_dir=str(tmp_path / "files"))


async def _all_rows(sessionmaker: async_sessionmaker[AsyncSession]) -> list[tuple[Any, ...]]:
    async with sessionmaker() as db:
        found = await db.scalars(select(AnalyticsDaily).order_by(AnalyticsDaily.id))
        return [
            (r.id, r.day, r.hospital_id, r.metric, r.key, r.currency, r.count, r.amount)
            for r in found
        ]


async def test_a_backfill_rebuilds_a_range_identically(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    temporal_client: Client,
    task_queue: str,
) -> None:
    world = await analytics_world(sessionmaker)
    first, last = date(2026, 10, 1), date(2026, 11, 11)  # 42 days: two activity calls
    await AnalyticsActivities(sessionmaker, settings).roll_up_analytics_days(
        RollUpInput(first=date(2026, 11, 9), last=last)
    )
    rolled = await _all_rows(sessionmaker)
    assert rolled

    # Rows lost, changed and made up since
    async with sessionmaker() as db, db.begin():
        await db.execute(delete(AnalyticsDaily).where(AnalyticsDaily.day == date(2026, 11, 10)))
        await db.execute(
            update(AnalyticsDaily).where(AnalyticsDaily.day == date(2026, 11, 9)).values(count=999)
        )
        db.add(
            AnalyticsDaily(
                id=uuid.uuid4(),
                day=date(2026, 11, 11),
                hospital_id=world.h2.id,
                metric="bookings.created",
                key="made-up",
                count=7,
            )
        )

    summary = await backfill_roll_up(temporal_client, task_queue, first, last)

    assert [d.day for d in summary.days] == [
        first + timedelta(days=i) for i in range((last - first).days + 1)
    ]
    assert summary.timezone == ZONE
    assert await _all_rows(sessionmaker) == rolled


async def test_the_clean_up_removes_what_can_go_and_reports_it(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    temporal_client: Client,
    task_queue: str,
) -> None:
    user = await create_user(sessionmaker, Role.PATIENT)
    now = datetime.now(UTC)
    storage = build_storage(settings)
    old_file, new_file, kept_file = (new_key("images", user.id) for _ in range(3))
    for key in (old_file, new_file, kept_file):
        await storage.put(key, b"\x89PNG", "image/png", {})
    hour, day = timedelta(hours=1), timedelta(days=1)

    def token(model: Any, **fields: Any) -> Any:
        return model(user_id=user.id, token_hash=uuid.uuid4().hex, **fields)

    old_mail = OutboxMessage(
        channel="email",
        recipient="a@example.com",
        body_text="old",
        dedupe_key="old",
        created_at=now - timedelta(days=settings.outbox_retention_days + 1),
    )
    async with sessionmaker() as db, db.begin():
        db.add_all(
            [
                token(RefreshToken, family_id=uuid.uuid4(), expires_at=now - hour),
                # revoked but not expired: kept, its reuse must still revoke the family
                token(RefreshToken, family_id=uuid.uuid4(), expires_at=now + day, is_revoked=True),
                token(RefreshToken, family_id=uuid.uuid4(), expires_at=now + day),
                token(PasswordReset, expires_at=now + hour, is_used=True),
                token(PasswordReset, expires_at=now - hour),
                token(PasswordReset, expires_at=now + hour),
                token(EmailVerification, expires_at=now - hour),
                token(EmailVerification, expires_at=now + day),
                Media(file_url=old_file, created_at=now - 2 * day),
                Media(file_url=new_file, created_at=now - hour),
                Media(
                    file_url=kept_file,
                    entity_type="hospital",
                    entity_id=uuid.uuid4(),
                    created_at=now - 2 * day,
                ),
                old_mail,
                OutboxMessage(
                    channel="email",
                    recipient="b@example.com",
                    body_text="recent",
                    dedupe_key="recent",
                    created_at=now - timedelta(days=1),
                ),
            ]
        )
        await db.flush()
        db.add(
            OutboxAttachment(
                outbox_message_id=old_mail.id,
                position=0,
                filename="a.pdf",
                content_type="application/pdf",
                size=3,
                content=b"pdf",
            )
        )

    report = await temporal_client.execute_workflow(
        PlatformCleanupWorkflow.run, id=f"cleanup-{uuid.uuid4().hex}", task_queue=task_queue
    )

    assert report.model_dump() == {
        "refresh_tokens": 1,
        "password_resets": 2,
        "email_verifications": 1,
        "uploads": 1,
        "outbox_messages": 1,
    }
    assert not await storage.exists(old_file)
    assert await storage.exists(new_file) and await storage.exists(kept_file)
    async with sessionmaker() as db:
        for model, left in (
            (RefreshToken, 2),
            (PasswordReset, 1),
            (EmailVerification, 1),
            (Media, 2),
            (OutboxAttachment, 0),
        ):
            assert await db.scalar(select(func.count()).select_from(model)) == left, model
        recipients = set(await db.scalars(select(OutboxMessage.recipient)))
        assert "a@example.com" not in recipients and "b@example.com" in recipients

    again = await temporal_client.execute_workflow(
        PlatformCleanupWorkflow.run, id=f"cleanup-{uuid.uuid4().hex}", task_queue=task_queue
    )
    assert again.model_dump() == dict.fromkeys(report.model_dump(), 0)


async def _mails(sessionmaker: async_sessionmaker[AsyncSession], to: str) -> list[str]:
    async with sessionmaker() as db:
        return list(
            await db.scalars(
                select(OutboxMessage.subject)
                .where(OutboxMessage.recipient == to, OutboxMessage.channel == "email")
                .order_by(OutboxMessage.subject)
            )
        )


async def test_payment_reminders_go_out_once_per_step_in_the_patients_language(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    temporal_client: Client,
    task_queue: str,
) -> None:
    user = await create_user(sessionmaker, Role.PATIENT)
    async with sessionmaker() as db, db.begin():
        await db.execute(update(User).where(User.id == user.id).values(locale="fr"))
    patient = await patient_of(sessionmaker, user)
    today = datetime.now(UTC).astimezone(ZoneInfo(ZONE)).date()
    now = datetime.now(UTC)

    def invoice(number: str, due: date, status: str = "issued") -> Invoice:
        return Invoice(
            invoice_number=number,
            patient_id=patient.id,
            total_amount=Decimal("100.00"),
            final_amount=Decimal("100.00"),
            currency="EUR",
            status=status,
            invoice_date=today - timedelta(days=30),
            due_date=due,
        )

    def waiting(number: str, asked: datetime) -> list[Any]:
        booking = Booking(
            id=uuid.uuid4(),
            booking_number=number,
            patient_id=patient.id,
            status="payment_pending",
            total_amount=Decimal("2500.00"),
            currency="USD",
        )
        return [
            booking,
            BookingStatusHistory(
                booking_id=booking.id, seq=1, to_status="payment_pending", created_at=asked
            ),
        ]

    soon = invoice("INV-SOON", today + timedelta(days=2))
    async with sessionmaker() as db, db.begin():
        db.add_all(
            [
                soon,
                invoice("INV-LATE", today - timedelta(days=1)),
                invoice("INV-LATER", today + timedelta(days=10)),  # not yet
                invoice("INV-PAID", today - timedelta(days=1), status="paid"),
            ]
        )
        for row in waiting("BK-LATE", now - timedelta(days=8)) + waiting(
            "BK-SOON", now - timedelta(days=5)
        ):
            db.add(row)
            await db.flush()

    async def run() -> int:
        sent = await temporal_client.execute_workflow(
            PaymentReminderWorkflow.run, id=f"reminders-{uuid.uuid4().hex}", task_queue=task_queue
        )
        return sent.reminders

    assert await run() == 4

    async def four() -> list[str] | None:
        found = await _mails(sessionmaker, user.email)
        return found if len(found) >= 4 else None

    subjects = await eventually(four, within=60)
    booking_due = (now + timedelta(days=2)).astimezone(ZoneInfo(ZONE)).date()
    assert subjects == [
        "Le paiement pour BK-LATE est en retard",
        f"Le paiement pour BK-SOON est dû le {booking_due}",
        "Le paiement pour INV-LATE est en retard",
        f"Le paiement pour INV-SOON est dû le {today + timedelta(days=2)}",
    ]

    # The same steps again: nothing new. Then INV-SOON falls overdue: its second reminder.
    assert await run() == 4
    async with sessionmaker() as db, db.begin():
        await db.execute(
            update(Invoice).where(Invoice.id == soon.id).values(due_date=today - timedelta(days=1))
        )
    assert await run() == 4

    async def five() -> list[str] | None:
        found = await _mails(sessionmaker, user.email)
        return found if len(found) >= 5 else None

    subjects = await eventually(five, within=60)
    assert len(subjects) == 5
    assert "Le paiement pour INV-SOON est en retard" in subjects
