"""PostgreSQL restarting under a running API: every request that needs it answers a prompt 503
DATABASE_UNAVAILABLE with Retry-After (not a 500), nothing of it is written, the health checks
say the database is down, and once the server is back the same requests succeed without
restarting the API (the pool replaces the connections the restart closed). The server is this
test's own, not the shared session one, since the test stops it."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import pytest_asyncio
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from api.errors import database_down, database_error
from domain.models.catalog import Hospital
from runtime.db import make_engine, make_sessionmaker
from runtime.migrate import upgrade
from runtime.postgres import EmbeddedPostgres, free_port
from tests.builders.booking_builders import booking_people
from tests.fixtures.workers import SANDBOX
from worker import build_worker

# No call may wait longer than this (a bound on the wait, not a measure of speed).
BOUND = 60


@pytest_asyncio.fixture(loop_scope="session")
async def own_postgres(tmp_path: Path) -> AsyncIterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path / "pg", free_port(), durable=False)
    await asyncio.to_thread(server.start)
    try:
        await asyncio.to_thread(upgrade, server.url)
        yield server
    finally:
        await asyncio.to_thread(server.stop)


def _fast_shutdown(server: EmbeddedPostgres) -> None:
    """What a restart does to the clients: their connections are closed under them."""
    assert server.process is not None
    server.process.send_signal(signal.SIGINT)
    server.process.wait(30)


async def _hospitals(sessionmaker: async_sessionmaker[AsyncSession], name: str) -> int:
    async with sessionmaker() as db:
        return int(await db.scalar(select(func.count()).where(Hospital.name == name)) or 0)


async def test_a_database_restart_gives_prompt_503s_then_the_api_recovers_by_itself(
    own_postgres, settings, temporal_client
):
    engine = make_engine(own_postgres.url, pool_size=2)
    sessionmaker = make_sessionmaker(engine)
    people = await booking_people(sessionmaker)
    own = settings.model_copy(update={"database_url": own_postgres.url})
    app = create_app(own, temporal=temporal_client)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    booking_body = {"hospital_id": str(people.hospital_id), "booking_type": "treatment"}
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as api,
            build_worker(temporal_client, own, sessionmaker, workflow_runner=SANDBOX),
        ):

            def calls() -> dict[str, tuple[int, object]]:
                return {
                    "read": (200, api.get("/bookings", headers=people.patient)),
                    "catalog write": (
                        201,
                        api.post("/hospitals", headers=people.admin, json={"name": "Restart"}),
                    ),
                    "booking": (
                        201,
                        api.post(
                            "/bookings",
                            headers={**people.patient, "Idempotency-Key": "during-restart"},
                            json=booking_body,
                        ),
                    ),
                }

            # The pool holds connections the restart will close.
            warm = await api.get("/bookings", headers=people.patient)
            assert warm.status_code == 200, warm.text

            await asyncio.to_thread(_fast_shutdown, own_postgres)

            for name, (_, call) in calls().items():
                response = await asyncio.wait_for(call, BOUND)
                assert response.status_code == 503, (name, response.text)
                error = response.json()["error"]
                assert error["code"] == "DATABASE_UNAVAILABLE", (name, error)
                assert response.json()["success"] is False
                assert int(response.headers["Retry-After"]) >= 1, name

            alive = await asyncio.wait_for(api.get("/health"), BOUND)
            assert alive.status_code == 200
            assert alive.json()["data"] == {"status": "ok", "database": "down"}
            db_health = await asyncio.wait_for(api.get("/health/db"), BOUND)
            assert db_health.status_code == 503
            assert db_health.json()["error"]["details"]["database"] == "down"
            public = await asyncio.wait_for(api.get("/health/services"), BOUND)
            assert public.status_code == 503
            assert public.json()["error"]["details"] == {"services": "down"}
            # Staff are known by their token, which needs the database: that answer says it.
            staff = await asyncio.wait_for(api.get("/health/services", headers=people.admin), BOUND)
            assert staff.status_code == 503
            assert staff.json()["error"]["code"] == "DATABASE_UNAVAILABLE"

            await asyncio.to_thread(own_postgres.start)

            assert await _hospitals(sessionmaker, "Restart") == 0  # nothing half-written
            for name, (expected, call) in calls().items():
                response = await asyncio.wait_for(call, BOUND)
                assert response.status_code == expected, (name, response.text)
            assert await _hospitals(sessionmaker, "Restart") == 1
            listed = await api.get("/bookings", headers=people.patient)
            assert len(listed.json()["data"]) == 1

            alive = await api.get("/health")
            assert alive.json()["data"] == {"status": "ok", "database": "up"}
            assert (await api.get("/health/db")).status_code == 200
    finally:
        await engine.dispose()


async def test_a_connection_closed_under_a_query_is_a_503_not_a_500(db_engine, pg_server):
    """What a restart does to a request in flight: its connection is closed mid-query."""
    async with db_engine.connect() as conn:
        pid = await conn.scalar(text("SELECT pg_backend_pid()"))
        admin = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{pg_server.port}/postgres")
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        with pytest.raises(DBAPIError) as closed:
            await conn.execute(text("SELECT 1"))
    assert database_down(closed.value)
    answer = await database_error(None, closed.value)  # type: ignore[arg-type]
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "2"
    assert b'"DATABASE_UNAVAILABLE"' in answer.body
    # The pool replaced it: the next checkout answers.
    async with db_engine.connect() as conn:
        assert await conn.scalar(text("SELECT 1")) == 1


async def test_a_query_of_ours_going_wrong_stays_a_500(db_engine):
    async with db_engine.connect() as conn:
        with pytest.raises(DBAPIError) as wrong:
            await conn.execute(text("SELECT * FROM no_such_table"))
    assert not database_down(wrong.value)
