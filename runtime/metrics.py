"""The business counters (Prometheus), counted where the activities write them.

`count_move` is called by activities/lifecycle.write_transition for every status it writes; the
count lands only when that transaction commits (a rolled-back or retried attempt counts
nothing, and a retry that finds its row already written is not a move). Notifications are
counted where their delivery result is stored. Labels carry lifecycle, status, channel and
result names only: never an id, never personal data.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, start_http_server
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

MOVES = Counter(
    "medivoy_lifecycle_moves",
    "Status moves written, by lifecycle (the table) and the status moved to",
    ["lifecycle", "status"],
)
PAYMENTS = Counter(
    "medivoy_payments",
    "Payments that reached an outcome (completed, failed, expired, cancelled, refunded, ...)",
    ["outcome"],
)
NOTIFICATIONS = Counter(
    "medivoy_notifications",
    "Notification deliveries by channel and result (sent, failed, rejected)",
    ["channel", "result"],
)
# The payment statuses that are an outcome (pending and processing are on the way to one).
PAYMENT_OUTCOMES = frozenset(
    {"completed", "failed", "expired", "cancelled", "refunded", "partially_refunded"}
)
_PENDING = "medivoy_pending_moves"


def count_move(session: AsyncSession, lifecycle: str, status: str) -> None:
    """Count one move once `session`'s transaction commits."""
    session.sync_session.info.setdefault(_PENDING, []).append((lifecycle, status))


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    for lifecycle, status in session.info.pop(_PENDING, ()):
        MOVES.labels(lifecycle=lifecycle, status=status).inc()
        if lifecycle == "payments" and status in PAYMENT_OUTCOMES:
            PAYMENTS.labels(outcome=status).inc()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def count_notification(channel: str, result: str) -> None:
    NOTIFICATIONS.labels(channel=channel, result=result).inc()


def serve(host: str, port: int) -> Any:
    """This process's counters over HTTP for Prometheus (the worker's; the API has /metrics)."""
    return start_http_server(port, addr=host)
