"""The roll-up's MongoDB sink, with the real pymongo driver against a local wire-protocol
server (mockupdb): rolling a day up replaces that day's documents of the `analytics`
collection (a delete of the day, then one insert of its rows, in the plan's shape)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from mockupdb import MockupDB, OpMsg
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.analytics import AnalyticsActivities, RollUpInput
from activities.providers.analytics_sink import MongoAnalyticsSink
from domain.models.analytics import AnalyticsDaily
from runtime.settings import Settings
from tests.builders.analytics_builders import ZONE, analytics_world

NOV_10 = date(2026, 11, 10)


@pytest.fixture
def mongo() -> Iterator[MockupDB]:
    server = MockupDB(auto_ismaster={"maxWireVersion": 21, "minWireVersion": 0})
    server.autoresponds("endSessions")
    server.run()
    yield server
    server.stop()


async def _received(server: MockupDB, command: str) -> Any:
    request = await asyncio.to_thread(server.receives, timeout=30)
    assert isinstance(request, OpMsg)
    assert request.command_name == command, request
    return request


async def test_the_roll_up_replaces_the_days_documents_in_mongodb(
    sessionmaker: async_sessionmaker[AsyncSession],
    make_settings: Callable[..., Settings],
    mongo: MockupDB,
) -> None:
    world = await analytics_world(sessionmaker)
    settings = make_settings(analytics_timezone=ZONE, mongodb_url=mongo.uri)
    sink = MongoAnalyticsSink(mongo.uri, "medivoy_test", timeout_ms=20_000)
    activities = AnalyticsActivities(sessionmaker, settings, sink)
    try:
        rolling = asyncio.create_task(
            activities.roll_up_analytics_days(RollUpInput(first=NOV_10, last=NOV_10))
        )
        deleted = await _received(mongo, "delete")
        assert deleted.doc["delete"] == "analytics"
        assert deleted.doc["$db"] == "medivoy_test"
        [query] = deleted.doc["deletes"]
        assert query["q"] == {"date": datetime(2026, 11, 10, tzinfo=UTC).replace(tzinfo=None)}
        assert query["limit"] == 0
        deleted.ok(n=0)

        inserted = await _received(mongo, "insert")
        assert inserted.doc["insert"] == "analytics"
        assert inserted.doc["ordered"] is True
        documents = inserted.doc["documents"]
        inserted.ok(n=len(documents))
        result = await asyncio.wait_for(rolling, 30)
    finally:
        await sink.close()

    async with sessionmaker() as db:
        stored = await db.scalar(
            select(func.count()).select_from(AnalyticsDaily).where(AnalyticsDaily.day == NOV_10)
        )
    # One document per PostgreSQL row, the truth
    assert len(documents) == stored == result.days[0].rows
    platform_usd = [
        d
        for d in documents
        if d["metric_type"] == "revenue.gross"
        and d["hospital_id"] is None
        and d["data"]["currency"] == "USD"
    ]
    assert [d["data"] for d in platform_usd] == [
        {"key": "", "currency": "USD", "count": 1, "amount": "1000.00"}
    ]
    h1_bookings = [
        d
        for d in documents
        if d["metric_type"] == "bookings.created" and d["hospital_id"] == str(world.h1.id)
    ]
    assert [d["data"]["count"] for d in h1_bookings] == [3]
    assert all(
        set(d) >= {"_id", "metric_type", "date", "hospital_id", "data", "created_at"}
        for d in documents
    )
