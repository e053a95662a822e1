"""Support rules: how soon each priority must be answered, and which statuses are final."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.vocabulary import TicketPriority, TicketStatus

SLA: dict[TicketPriority, timedelta] = {
    TicketPriority.URGENT: timedelta(hours=4),
    TicketPriority.HIGH: timedelta(hours=24),
    TicketPriority.MEDIUM: timedelta(hours=48),
    TicketPriority.LOW: timedelta(hours=72),
}

CLOSED: frozenset[TicketStatus] = frozenset({TicketStatus.CLOSED})


def sla_due(priority: TicketPriority, opened_at: datetime) -> datetime:
    """When a ticket of this priority, opened then, must have been answered."""
    if opened_at.tzinfo is None:
        raise ValueError("opened_at must be timezone-aware")
    return opened_at + SLA[priority]
