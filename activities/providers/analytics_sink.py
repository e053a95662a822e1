"""Where MongoDB is configured (MEDIVOY_MONGODB_URL), the daily roll-up also writes its rows to
the plan's `analytics` collection ({metric_type, date, hospital_id, data, created_at}) with
pymongo's asyncio client. PostgreSQL stays the truth: a day is replaced whole (delete the day's
documents, insert its rows), so writing a day twice leaves the same documents."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any, Protocol

from pymongo import AsyncMongoClient

COLLECTION = "analytics"


class AnalyticsSink(Protocol):
    async def replace_day(self, day: date, rows: list[dict[str, Any]]) -> None: ...


def document(row: dict[str, Any], created_at: datetime) -> dict[str, Any]:
    """One roll-up row as the plan's analytics document (money as a decimal string)."""
    amount = row.get("amount")
    return {
        "metric_type": row["metric"],
        "date": datetime.combine(row["day"], time(0), tzinfo=UTC),
        "hospital_id": str(row["hospital_id"]) if row.get("hospital_id") else None,
        "data": {
            "key": row["key"],
            "currency": row["currency"] or None,
            "count": row["count"],
            "amount": None if amount is None else str(amount),
        },
        "created_at": created_at,
    }


class MongoAnalyticsSink:
    def __init__(self, url: str, database: str, *, timeout_ms: int = 10_000) -> None:
        self._client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            url, serverSelectionTimeoutMS=timeout_ms, tz_aware=True
        )
        self._collection = self._client[database][COLLECTION]

    async def replace_day(self, day: date, rows: list[dict[str, Any]]) -> None:
        moment = datetime.combine(day, time(0), tzinfo=UTC)
        await self._collection.delete_many({"date": moment})
        if rows:
            now = datetime.now(UTC)
            await self._collection.insert_many([document(r, now) for r in rows], ordered=True)

    async def close(self) -> None:
        await self._client.close()
