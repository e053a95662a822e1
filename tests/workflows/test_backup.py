"""The scheduled backup: DatabaseBackupWorkflow (run by the production worker) pg_dumps the
database into the storage backend and keeps the newest MEDIVOY_BACKUP_RETENTION_COUNT; `medivoy
backup restore` (the real command) loads the newest into an empty database, with the same rows
in every table, and refuses a database that is not empty."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from activities.backup import INDEX_KEY, read_index
from activities.providers.wiring import build_storage
from runtime.postgres import EmbeddedPostgres
from runtime.settings import Settings
from tests.builders.analytics_builders import analytics_world
from workflows.maintenance import DatabaseBackupWorkflow

pytestmark = pytest.mark.usefixtures("worker")
MEDIVOY = str(Path(sys.executable).parent / "medivoy")


@pytest.fixture
def settings(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    return make_settings(storage_dir=str(tmp_path / "files"), backup_retention_count=2)


async def _row_counts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {
            t["tablename"]: await conn.fetchval(f'SELECT count(*) FROM "{t["tablename"]}"')
            for t in tables
        }
    finally:
        await conn.close()


async def _medivoy(env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        MEDIVOY,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=180)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_a_backup_restores_into_an_empty_database_with_the_same_rows(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    temporal_client: Client,
    task_queue: str,
    pg_server: EmbeddedPostgres,
) -> None:
    await analytics_world(sessionmaker)
    storage = build_storage(settings)
    results = []
    for _ in range(3):
        results.append(
            await temporal_client.execute_workflow(
                DatabaseBackupWorkflow.run, id=f"backup-{uuid.uuid4().hex}", task_queue=task_queue
            )
        )
    keys = [r.key for r in results]
    assert len(set(keys)) == 3
    # Two kept: the oldest is gone from the store and from the index
    assert await read_index(storage) == keys[1:]
    assert results[-1].removed == [keys[0]]
    assert not await storage.exists(keys[0])
    assert all(r.size > 0 for r in results)
    assert json.loads(await storage.get(INDEX_KEY)) == keys[1:]

    empty = "r_" + uuid.uuid4().hex[:12]
    admin = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{pg_server.port}/postgres")
    await admin.execute(f"CREATE DATABASE {empty}")
    target = f"postgresql://postgres@127.0.0.1:{pg_server.port}/{empty}"
    try:
        env = {
            **os.environ,
            "MEDIVOY_DATABASE_URL": settings.database_url,
            "MEDIVOY_STORAGE_DIR": settings.storage_dir,
            "MEDIVOY_ENV": "development",
        }
        code, out = await _medivoy(env, "backup", "restore", "--database-url", target)
        assert code == 0, out
        assert f"restored {keys[-1]}" in out
        source = await _row_counts(settings.database_url.replace("+asyncpg", ""))
        restored = await _row_counts(target)
        assert restored == source
        assert restored["bookings"] == 5 and restored["payments"] == 6

        code, out = await _medivoy(env, "backup", "restore", "--database-url", target)
        assert code == 2
        assert "not empty" in out
        code, out = await _medivoy(env, "backup", "list")
        assert code == 0 and out.split() == keys[1:]
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {empty} WITH (FORCE)")
        await admin.close()
