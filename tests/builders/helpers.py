"""Small waiting and reading helpers for tests that watch a workflow's effects."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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
