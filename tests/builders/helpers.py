"""Small waiting and reading helpers for tests that watch a workflow's effects: `eventually`,
a row reaching a status, an update's refusal, the outbox."""

from __future__ import annotations

import asyncio
import enum
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from domain.models.notifications import OutboxMessage

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T | None]], within: float = 15.0) -> T:
    """Poll until the probe returns something truthy (a workflow finishing its work)."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def row_becomes(
    sessionmaker: async_sessionmaker[AsyncSession],
    model: type[T],
    row_id: uuid.UUID,
    status: enum.Enum | str,
    within: float = 30.0,
) -> T:
    """The row of `model` with `row_id`, once its `status` column reads `status` (a workflow
    moving a booking or a payment): `await row_becomes(sessionmaker, Payment, id, P.COMPLETED)`."""
    wanted = status.value if isinstance(status, enum.Enum) else status

    async def probe() -> T | None:
        async with sessionmaker() as db:
            row = await db.get(model, row_id)
        return row if row is not None and row.status == wanted else None

    return await eventually(probe, within)


async def refused(update: Awaitable[Any]) -> ApplicationError:
    """The refusal (an ApplicationError) that a workflow update answered with."""
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await update
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    return cause


async def outbox_for(
    sessionmaker: async_sessionmaker[AsyncSession], recipient: str, *, count: int = 1
) -> list[OutboxMessage]:
    async def probe() -> list[OutboxMessage] | None:
        async with sessionmaker() as db:
            rows = list(
                await db.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.recipient == recipient)
                    .order_by(OutboxMessage.created_at)
                )
            )
        return rows if len(rows) >= count else None

    return await eventually(probe)


async def mails_about(
    sessionmaker: async_sessionmaker[AsyncSession],
    recipient: str,
    subject_part: str,
    within: float = 30.0,
) -> list[OutboxMessage]:
    """The outbox e-mails to `recipient` whose subject names `subject_part` (an invoice
    number), once there is at least one."""

    async def probe() -> list[OutboxMessage] | None:
        async with sessionmaker() as db:
            rows = list(
                await db.scalars(
                    select(OutboxMessage).where(
                        OutboxMessage.recipient == recipient,
                        OutboxMessage.subject.contains(subject_part),
                    )
                )
            )
        return rows or None

    return await eventually(probe, within)


def token_in(text: str, name: str = "token") -> str:
    match = re.search(name + r"=([A-Za-z0-9_\-]+)", text)
    assert match, f"no {name} in message: {text!r}"
    return match.group(1)
