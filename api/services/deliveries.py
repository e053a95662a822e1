"""Delivery receipts applied to the notification they are about (found by the provider's
message id): the status only moves forward, so a repeated or late receipt changes nothing."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from activities.providers.twilio_receipts import DeliveryReport
from domain.models.notifications import Notification
from domain.notification import Channel, DeliveryStatus


@dataclass(frozen=True)
class AppliedReceipt:
    dedupe_key: str
    channel: Channel
    status: DeliveryStatus
    # False when the notification already stood at this status or further (a repeat).
    changed: bool


async def apply_receipt(
    db: AsyncSession, provider: str, report: DeliveryReport
) -> AppliedReceipt | None:
    """None when no notification carries this message id (not ours, or not recorded yet)."""
    row = await db.scalar(
        select(Notification)
        .where(
            Notification.provider == provider,
            Notification.provider_message_id == report.message_sid,
        )
        .with_for_update()
    )
    if row is None:
        return None
    current = DeliveryStatus(row.delivery_status) if row.delivery_status else None
    if current is not None and current.rank >= report.status.rank:
        return AppliedReceipt(row.dedupe_key, Channel(row.channel), current, changed=False)
    values: dict[str, object] = {"delivery_status": report.status.value}
    if (
        report.status in (DeliveryStatus.DELIVERED, DeliveryStatus.READ)
        and row.delivered_at is None
    ):
        values["delivered_at"] = func.now()
    if report.status.failed:
        values["last_error"] = f"{provider} {report.status.value} (error {report.error_code})"
    await db.execute(update(Notification).where(Notification.id == row.id).values(**values))
    return AppliedReceipt(row.dedupe_key, Channel(row.channel), report.status, changed=True)
