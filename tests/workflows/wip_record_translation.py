# ruff: noqa: ASYNC240
"""Records tests/histories/translation_pending.json and translation_sweep.json (run as a script)."""

import asyncio
import json
import tempfile
import uuid
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.translate import TranslationActivities, TranslationTarget, translation_activity_list
from domain.models.catalog import Treatment
from runtime.db import make_engine, make_sessionmaker
from runtime.migrate import upgrade
from runtime.postgres import EmbeddedPostgres, free_port
from runtime.settings import Settings
from runtime.temporal_server import binary
from workflows.messages import translation_workflow_id
from workflows.translation import TranslationSweepWorkflow, TranslationWorkflow


async def main():
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp()), free_port(), durable=False)
    pg.start()
    try:
        await asyncio.to_thread(upgrade, pg.url)
        engine = make_engine(pg.url)
        sm = make_sessionmaker(engine)
        tid = uuid.UUID("00000000-0000-4000-8000-00000000c001")
        async with sm() as db, db.begin():
            db.add(Treatment(id=tid, name="Knee Replacement", description="A new knee joint."))
        env = await WorkflowEnvironment.start_time_skipping(
            data_converter=pydantic_data_converter,
            test_server_existing_path=binary("temporal-test-server"),
        )
        settings = Settings(database_url=pg.url, jwt_secret="x" * 32)
        target = TranslationTarget(entity_type="treatments", entity_id=tid, locale="ar")
        async with Worker(
            env.client,
            task_queue="record",
            workflows=[TranslationWorkflow, TranslationSweepWorkflow],
            activities=translation_activity_list(TranslationActivities(sm, settings, None)),
        ):
            sweep = await env.client.start_workflow(
                TranslationSweepWorkflow.run, id="translation-sweep-record", task_queue="record"
            )
            await asyncio.sleep(4)
            sweep_history = await sweep.fetch_history()
            handle = env.client.get_workflow_handle(translation_workflow_id(target))
            history = await handle.fetch_history()
        await env.shutdown()
        await engine.dispose()
    finally:
        pg.stop()
    out = Path("tests/histories/translation_pending.json")
    out.write_text(
        json.dumps(
            {
                "workflow_type": "TranslationWorkflow",
                "workflow_id": handle.id,
                "history": json.loads(history.to_json()),
            },
            indent=1,
        )
    )
    print("recorded", out, len(history.events))
    out = Path("tests/histories/translation_sweep.json")
    out.write_text(
        json.dumps(
            {
                "workflow_type": "TranslationSweepWorkflow",
                "workflow_id": sweep.id,
                "history": json.loads(sweep_history.to_json()),
            },
            indent=1,
        )
    )
    print("recorded", out, len(sweep_history.events))


asyncio.run(main())
