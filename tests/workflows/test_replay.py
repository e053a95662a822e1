"""Recorded histories replay against the current workflow code, so a non-deterministic change
fails the build. Record a new one with `uv run python -m tests.workflows.test_replay record`."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows import ALL_WORKFLOWS

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
RECORDED = {p.stem: json.loads(p.read_text()) for p in sorted(HISTORIES.glob("*.json"))}


def test_every_workflow_has_a_recorded_history():
    recorded = {saved["workflow_type"] for saved in RECORDED.values()}
    missing = {w.__temporal_workflow_definition.name for w in ALL_WORKFLOWS} - recorded  # type: ignore[attr-defined]
    assert not missing, f"record a history for: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(RECORDED))
async def test_recorded_history_replays_deterministically(name: str):
    saved = RECORDED[name]
    history = WorkflowHistory.from_json(saved["workflow_id"], saved["history"])
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


async def _record_notification() -> None:
    """Run a verification e-mail through DeliverNotification on a throwaway stack and save it."""
    import tempfile
    import uuid

    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    from activities.notify import build_notification_activities, notification_activity_list
    from domain.models import Base
    from domain.models.users import User
    from runtime.db import make_engine, make_sessionmaker
    from runtime.postgres import EmbeddedPostgres, free_port
    from runtime.settings import Settings
    from runtime.temporal_server import binary
    from workflows.notification import DeliverNotification, NotificationRequest

    pg = EmbeddedPostgres(Path(tempfile.mkdtemp()), free_port(), durable=False)
    pg.start()
    try:
        engine = make_engine(pg.url)
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        sessionmaker = make_sessionmaker(engine)
        async with sessionmaker() as db, db.begin():
            user = User(
                id=uuid.uuid4(),
                email="replay@example.com",
                password_hash="x",
                user_type="patient",
                first_name="Replay",
            )
            db.add(user)
        env = await WorkflowEnvironment.start_time_skipping(
            data_converter=pydantic_data_converter,
            test_server_existing_path=binary("temporal-test-server"),
        )
        settings = Settings(database_url=pg.url, jwt_secret="x" * 32)
        acts = build_notification_activities(settings, sessionmaker)
        async with Worker(
            env.client,
            task_queue="record",
            workflows=[DeliverNotification],
            activities=notification_activity_list(acts),
        ):
            handle = await env.client.start_workflow(
                DeliverNotification.run,
                NotificationRequest(
                    dedupe_key="verify-email:replay",
                    user_id=user.id,
                    template="verify_email",
                    context={
                        "first_name": "Replay",
                        "token": "t" * 20,
                        "verify_url": "http://x/verify-email?token=" + "t" * 20,
                    },
                ),
                id="notification-verify-email:replay",
                task_queue="record",
            )
            await handle.result()
            history = await handle.fetch_history()
        await env.shutdown()
        await engine.dispose()
    finally:
        pg.stop()
    out = HISTORIES / "deliver_notification.json"
    out.write_text(
        json.dumps(
            {
                "workflow_type": "DeliverNotification",
                "workflow_id": handle.id,
                "history": json.loads(history.to_json()),
            },
            indent=1,
        )
    )
    print(f"recorded {out}")


if __name__ == "__main__" and sys.argv[1:] == ["record"]:
    asyncio.run(_record_notification())
