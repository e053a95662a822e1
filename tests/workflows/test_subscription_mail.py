"""What the subscriber reads: every e-mail of a subscription's life, in their own language, read
back from the outbox after a time-skipping run (the real database, the payment and invoice
workflows, the PDF rendered into a folder; the in-memory SavingGateway plays Stripe)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.documents import DocumentActivities, InvoiceRef, format_date, format_money
from activities.providers.wiring import build_storage
from domain.models.notifications import Channel, OutboxAttachment, OutboxMessage
from domain.models.payments import Invoice
from domain.models.subscriptions import Subscription
from domain.models.users import User
from domain.payment import PaymentGateway as GatewayName
from domain.subscription import SubscriptionStatus
from runtime.settings import Settings
from tests.builders.helpers import eventually
from tests.builders.payment_builders import FakeGateway
from tests.builders.subscription_builders import (
    SavingGateway,
    Subscribers,
    make_subscribers,
    subscribe,
)
from tests.builders.subscription_worker import subscription_worker
from workflows.subscription import (
    CancelCommand,
    ChangeCommand,
    SubscriptionTimers,
    SubscriptionView,
    SubscriptionWorkflow,
)

S = SubscriptionStatus
TIMERS = SubscriptionTimers(
    payment_window_hours=24, reminder_days=7, retry_days=[1, 3, 7], grace_days=14
)
USD = "USD"


@pytest.fixture
def env(indexed_env: WorkflowEnvironment) -> WorkflowEnvironment:
    return indexed_env


@pytest.fixture
def gateway() -> SavingGateway:
    return SavingGateway()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        jwt_secret="x" * 32,
        storage_dir=str(tmp_path / "files"),
        public_base_url="https://api.medivoy.test",
    )


@pytest_asyncio.fixture(loop_scope="session")
async def worker(
    env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    gateway: SavingGateway,
    settings: Settings,
) -> AsyncIterator[Worker]:
    gateways = {
        GatewayName.STRIPE: gateway,
        GatewayName.RAZORPAY: FakeGateway(name=GatewayName.RAZORPAY, cancellable=False),
    }
    async with subscription_worker(env, task_queue, sessionmaker, gateways, settings) as running:
        yield running


pytestmark = pytest.mark.usefixtures("worker")


async def subscriber(sessionmaker: async_sessionmaker[AsyncSession], locale: str) -> Subscribers:
    """A hospital and its admin, who reads Medivoy in `locale`."""
    who = await make_subscribers(sessionmaker)
    async with sessionmaker() as db, db.begin():
        await db.execute(update(User).where(User.id == who.hospital_admin.id).values(locale=locale))
    return who


async def row(sessionmaker: async_sessionmaker[AsyncSession], sid: uuid.UUID) -> Subscription:
    async with sessionmaker() as db:
        found = await db.get(Subscription, sid)
        assert found is not None
        return found


async def becomes(
    sessionmaker: async_sessionmaker[AsyncSession],
    sid: uuid.UUID,
    status: SubscriptionStatus,
    period: int | None = None,
) -> Subscription:
    async def probe() -> Subscription | None:
        found = await row(sessionmaker, sid)
        if found.status != status.value:
            return None
        if period is not None and found.current_period != period:
            return None
        return found

    return await eventually(probe, within=60)


async def active(
    env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    task_queue: str,
    who: Subscribers,
    gateway: SavingGateway,
) -> tuple[SubscriptionView, WorkflowHandle[Any, Any], Subscription]:
    view, handle = await subscribe(env.client, task_queue, who, gateway, timers=TIMERS)
    stored = await becomes(sessionmaker, view.subscription_id, S.ACTIVE, 0)
    return view, handle, stored


async def skip_to(env: WorkflowEnvironment, at: datetime) -> None:
    now = await env.get_current_time()
    if at > now:
        await env.sleep(at - now)


def midnight(day: date | None) -> datetime:
    assert day is not None
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


async def mail(
    sessionmaker: async_sessionmaker[AsyncSession], who: Subscribers, subject_has: str
) -> OutboxMessage:
    """The one e-mail to the subscriber whose subject holds `subject_has` (waits for it)."""

    async def probe() -> OutboxMessage | None:
        async with sessionmaker() as db:
            found = list(
                await db.scalars(
                    select(OutboxMessage).where(
                        OutboxMessage.recipient == who.hospital_admin.email,
                        OutboxMessage.channel == Channel.EMAIL.value,
                        OutboxMessage.subject.contains(subject_has),
                    )
                )
            )
        assert len(found) <= 1, [m.subject for m in found]
        return found[0] if found else None

    return await eventually(probe, within=60)


async def subjects(sessionmaker: async_sessionmaker[AsyncSession], who: Subscribers) -> list[str]:
    async with sessionmaker() as db:
        return [
            s or ""
            for s in await db.scalars(
                select(OutboxMessage.subject)
                .where(
                    OutboxMessage.recipient == who.hospital_admin.email,
                    OutboxMessage.channel == Channel.EMAIL.value,
                )
                .order_by(OutboxMessage.created_at)
            )
        ]


async def attachments(
    sessionmaker: async_sessionmaker[AsyncSession], message: OutboxMessage
) -> list[OutboxAttachment]:
    async with sessionmaker() as db:
        return list(
            await db.scalars(
                select(OutboxAttachment).where(OutboxAttachment.outbox_message_id == message.id)
            )
        )


async def invoices(sessionmaker: async_sessionmaker[AsyncSession], sid: uuid.UUID) -> list[Invoice]:
    async with sessionmaker() as db:
        return list(
            await db.scalars(
                select(Invoice)
                .where(Invoice.subscription_id == sid)
                .order_by(Invoice.invoice_number)
            )
        )


def reads(message: OutboxMessage, *parts: str) -> None:
    """Each part is in the text and in the HTML (HTML-escaped apostrophes aside)."""
    html = (message.body_html or "").replace("&#39;", "'")
    for part in parts:
        assert part in message.body_text, (part, message.body_text)
        assert part in html, (part, html)


async def test_a_french_subscriber_reads_activation_reminder_and_renewal_with_its_invoice(
    env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    task_queue: str,
    gateway: SavingGateway,
    settings: Settings,
) -> None:
    who = await subscriber(sessionmaker, "fr")
    view, _handle, stored = await active(env, sessionmaker, task_queue, who, gateway)
    hundred = format_money(Decimal("100.00"), USD, "fr")
    assert hundred == "100,00\u00a0USD"

    activated = await mail(sessionmaker, who, "Votre formule Standard est active")
    first = (await invoices(sessionmaker, view.subscription_id))[0]
    reads(
        activated,
        "Nous avons bien reçu votre paiement de " + hundred,
        "jusqu'au " + format_date(stored.end_date, "fr"),
        f"Votre facture {first.invoice_number} est jointe",
    )
    assert '<html lang="fr" dir="ltr">' in (activated.body_html or "")
    [pdf] = await attachments(sessionmaker, activated)
    assert pdf.filename == f"{first.invoice_number}.pdf" and pdf.content.startswith(b"%PDF")
    # Billed to the hospital, by Medivoy, printed in the subscriber's language.
    printed = await DocumentActivities(sessionmaker, build_storage(settings)).load_invoice_document(
        InvoiceRef(invoice_id=first.id)
    )
    assert (printed.patient_name, printed.hospital_name, printed.locale) == (
        "Apollo Chennai",
        "Medivoy",
        "fr",
    )

    # Seven days before the end: the amount, the plan and the card's last digits.
    await skip_to(env, midnight(stored.end_date) - timedelta(days=7) + timedelta(minutes=1))
    reminder = await mail(sessionmaker, who, "sera renouvelée le")
    assert reminder.subject == (
        f"Votre formule Standard sera renouvelée le {format_date(stored.end_date, 'fr')}"
    )
    reads(reminder, f"pour {hundred}, prélevés sur la carte se terminant par 4242")

    await skip_to(env, midnight(stored.end_date) + timedelta(minutes=1))
    renewed_row = await becomes(sessionmaker, view.subscription_id, S.ACTIVE, 1)
    renewal_invoice = (await invoices(sessionmaker, view.subscription_id))[1]
    renewed = await mail(sessionmaker, who, "est renouvelée")
    assert renewed.subject == (
        f"Votre formule Standard est renouvelée (facture {renewal_invoice.invoice_number})"
    )
    reads(
        renewed,
        "renouvelée jusqu'au " + format_date(renewed_row.end_date, "fr"),
        f"Nous avons prélevé {hundred} sur la carte se terminant par 4242",
        f"Votre facture {renewal_invoice.invoice_number} est jointe",
        f"https://api.medivoy.test/api/v1/invoices/{renewal_invoice.id}/pdf",
    )
    [pdf] = await attachments(sessionmaker, renewed)
    assert pdf.filename == f"{renewal_invoice.invoice_number}.pdf"
    assert pdf.content.startswith(b"%PDF")
    # The invoice carries the PDF it was mailed with; one e-mail per charge, no generic one.
    assert renewal_invoice.pdf_storage_key is not None
    assert len(await subjects(sessionmaker, who)) == 3


async def test_a_declined_renewal_says_when_it_is_tried_again_then_that_the_plan_expired(
    env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    task_queue: str,
    gateway: SavingGateway,
) -> None:
    who = await subscriber(sessionmaker, "es")
    view, _handle, stored = await active(env, sessionmaker, task_queue, who, gateway)
    gateway.declines = ["insufficient_funds"] * 4
    await skip_to(env, midnight(stored.end_date) + timedelta(minutes=1))
    past_due = await becomes(sessionmaker, view.subscription_id, S.PAST_DUE)
    assert past_due.dunning is not None
    retry = datetime.fromisoformat(past_due.dunning["retries"][0]).date()
    grace = datetime.fromisoformat(past_due.dunning["grace_ends"]).date()

    declined = await mail(sessionmaker, who, "No hemos podido renovar tu plan Standard")
    reads(
        declined,
        "No hemos podido cobrar " + format_money(Decimal("100.00"), USD, "es"),
        "insufficient_funds",
        "Lo intentaremos de nuevo el " + format_date(retry, "es"),
        "antes del " + format_date(grace, "es"),
    )

    await skip_to(env, midnight(stored.end_date) + timedelta(days=15))
    await becomes(sessionmaker, view.subscription_id, S.EXPIRED)
    expired = await mail(sessionmaker, who, "Tu plan Standard ha caducado")
    reads(expired, "periodo de gracia", "ya no se aplican")


@pytest.mark.parametrize(
    ("code", "locale", "subject", "why", "what_to_do"),
    [
        (
            "expired_card",
            "ar",
            "مطلوب إجراء منك للإبقاء على خطتك Standard",
            "انتهت صلاحية بطاقتك",
            "ما الذي عليك فعله: سجّل الدخول إلى Medivoy وافتح اشتراكك وأضف بطاقتك الجديدة",
        ),
        (
            "authentication_required",
            "en",
            "Action needed to keep your Standard plan",
            "your bank asks you to confirm this payment",
            "What to do: sign in to Medivoy, open your subscription and enter your card again "
            "to confirm it with your bank",
        ),
    ],
)
async def test_a_decline_that_needs_the_subscriber_says_what_to_do(
    env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    task_queue: str,
    gateway: SavingGateway,
    code: str,
    locale: str,
    subject: str,
    why: str,
    what_to_do: str,
) -> None:
    who = await subscriber(sessionmaker, locale)
    view, _handle, stored = await active(env, sessionmaker, task_queue, who, gateway)
    gateway.declines = [code]
    await skip_to(env, midnight(stored.end_date) + timedelta(minutes=1))
    asked = await becomes(sessionmaker, view.subscription_id, S.PAST_DUE)
    assert asked.dunning is not None and asked.dunning["action"] == "ask"
    grace = datetime.fromisoformat(asked.dunning["grace_ends"]).date()

    message = await mail(sessionmaker, who, subject)
    reads(message, why, what_to_do, format_date(grace, locale))
    direction = "rtl" if locale == "ar" else "ltr"
    assert f'<html lang="{locale}" dir="{direction}">' in (message.body_html or "")


async def test_a_card_reported_stolen_is_not_tried_again_and_the_mail_says_so(
    env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    task_queue: str,
    gateway: SavingGateway,
) -> None:
    who = await subscriber(sessionmaker, "hi")
    view, _handle, stored = await active(env, sessionmaker, task_queue, who, gateway)
    gateway.declines = ["stolen_card"]
    await skip_to(env, midnight(stored.end_date) + timedelta(minutes=1))
    await becomes(sessionmaker, view.subscription_id, S.PAST_DUE)

    stopped = await mail(sessionmaker, who, "आपका कार्ड अब आपके Standard प्लान का भुगतान नहीं कर सकता")
    reads(stopped, "stolen_card", "खोया या चोरी", "दूसरा भुगतान तरीका जोड़ें")
    await skip_to(env, midnight(stored.end_date) + timedelta(days=5))
    assert len(gateway.charges) == 1


async def test_turning_renewal_off_mails_the_last_day_then_that_the_plan_ended(
    env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    task_queue: str,
    gateway: SavingGateway,
) -> None:
    who = await subscriber(sessionmaker, "en")
    view, handle, stored = await active(env, sessionmaker, task_queue, who, gateway)
    await handle.execute_update(
        SubscriptionWorkflow.cancel, CancelCommand(caller=who.caller(who.hospital_admin))
    )
    last_day = format_date(stored.end_date, "en")
    ending = await mail(sessionmaker, who, f"Your Standard plan ends on {last_day}")
    reads(ending, "until then it runs as before", "Turn the renewal back on")

    await skip_to(env, midnight(stored.end_date) + timedelta(minutes=1))
    await becomes(sessionmaker, view.subscription_id, S.CANCELLED)
    ended = await mail(sessionmaker, who, "Your Standard plan has ended")
    reads(ended, f"Your Standard plan ended on {last_day}, as you asked.")
    assert not gateway.charges


async def test_staff_cancelling_now_mails_the_refund_of_the_days_left(
    env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    task_queue: str,
    gateway: SavingGateway,
) -> None:
    who = await subscriber(sessionmaker, "fr")
    _view, handle, stored = await active(env, sessionmaker, task_queue, who, gateway)
    assert stored.start_date is not None and stored.end_date is not None
    days = (stored.end_date - stored.start_date).days
    await skip_to(env, midnight(stored.start_date) + timedelta(days=5, hours=1))
    await handle.execute_update(
        SubscriptionWorkflow.cancel,
        CancelCommand(caller=who.caller(who.admin), at_period_end=False),
    )
    refund = (Decimal("100.00") * (days - 5) / days).quantize(Decimal("0.01"))

    cancelled = await mail(sessionmaker, who, "Votre formule Standard est résiliée")
    reads(
        cancelled,
        "prend fin maintenant",
        f"Nous vous remboursons {format_money(refund, USD, 'fr')} pour les jours restants",
    )


async def test_an_upgrade_mails_its_charge_with_the_invoice_and_a_downgrade_its_date(
    env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    task_queue: str,
    gateway: SavingGateway,
) -> None:
    who = await subscriber(sessionmaker, "es")
    view, handle, stored = await active(env, sessionmaker, task_queue, who, gateway)
    assert stored.start_date is not None and stored.end_date is not None
    days = (stored.end_date - stored.start_date).days
    await skip_to(env, midnight(stored.start_date) + timedelta(days=10, hours=3))
    await handle.execute_update(
        SubscriptionWorkflow.change,
        ChangeCommand(caller=who.caller(who.hospital_admin), plan_id=who.premium),
    )
    due = (Decimal("210.00") * (days - 10) / days).quantize(Decimal("0.01"))
    upgraded = await mail(sessionmaker, who, "Te has pasado al plan Premium")
    upgrade_invoice = (await invoices(sessionmaker, view.subscription_id))[1]
    assert upgrade_invoice.final_amount == due
    reads(
        upgraded,
        "hasta el " + format_date(stored.end_date, "es"),
        "hemos cargado la diferencia: " + format_money(due, USD, "es"),
        f"Te adjuntamos la factura {upgrade_invoice.invoice_number}",
    )
    [pdf] = await attachments(sessionmaker, upgraded)
    assert pdf.filename == f"{upgrade_invoice.invoice_number}.pdf"

    await handle.execute_update(
        SubscriptionWorkflow.change,
        ChangeCommand(caller=who.caller(who.hospital_admin), plan_id=who.basic),
    )
    scheduled = await mail(
        sessionmaker, who, f"Tu plan cambia el {format_date(stored.end_date, 'es')}"
    )
    reads(
        scheduled,
        "tu plan es Basic, por " + format_money(Decimal("40.00"), USD, "es") + " al mes",
        "ahora no se cobra nada",
    )
    assert await attachments(sessionmaker, scheduled) == []
