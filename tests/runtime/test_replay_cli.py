"""`medivoy replay` against the real dev server: a workflow run by the current code replays (by
id, by query, saved to a corpus file and from it); one whose history a different version of the
code wrote fails with exit 1, named with the event that differs."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from runtime.codec import new_key
from runtime.temporal_server import TemporalDevServer
from tests.builders.helpers import eventually
from workflows.messages import TRANSLATION_SWEEP_WORKFLOW

MEDIVOY = str(Path(sys.executable).parent / "medivoy")
ENCRYPTED = "YmluYXJ5L2VuY3J5cHRlZA=="  # base64 of the codec's encoding, binary/encrypted


@workflow.defn(name=TRANSLATION_SWEEP_WORKFLOW, sandboxed=False)
class ChangedSweep:
    """The sweep as a careless change would leave it: a timer where the code schedules its
    activity. Its history cannot replay against the real TranslationSweepWorkflow."""

    @workflow.run
    async def run(self) -> None:
        await workflow.sleep(timedelta(hours=1))


async def _medivoy(env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        MEDIVOY,
        "replay",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=180)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_replay_passes_current_histories_and_fails_a_non_deterministic_one(
    temporal_client: Client,
    temporal_dev_server: TemporalDevServer,
    worker: Worker,
    task_queue: str,
    tmp_path: Path,
):
    good = "translation-sweep-replay-" + uuid.uuid4().hex[:8]
    await temporal_client.execute_workflow(
        TRANSLATION_SWEEP_WORKFLOW, id=good, task_queue=task_queue
    )

    bad = "translation-sweep-changed-" + uuid.uuid4().hex[:8]
    changed_queue = task_queue + "-changed"
    async with Worker(
        temporal_client,
        task_queue=changed_queue,
        workflows=[ChangedSweep],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await temporal_client.start_workflow(
            ChangedSweep.run, id=bad, task_queue=changed_queue
        )

        async def timer_started() -> bool | None:
            history = await handle.fetch_history()
            types = {e.event_type for e in history.events}
            return True if EventType.EVENT_TYPE_TIMER_STARTED in types else None

        await eventually(timer_started)

    async def listed() -> bool | None:
        found = [w async for w in temporal_client.list_workflows(f"WorkflowId = '{good}'")]
        return True if found else None

    await eventually(listed)

    env = {
        **os.environ,
        "MEDIVOY_TEMPORAL_ADDRESS": temporal_dev_server.address,
        "MEDIVOY_DATA_DIR": str(tmp_path / "data"),
        "MEDIVOY_LOG_JSON": "false",
    }
    try:
        (both_code, both), (query_code, query), (clear_code, clear) = await asyncio.gather(
            _medivoy(env, good, bad),
            _medivoy(env, "--query", f"WorkflowId = '{good}'", "--save", str(tmp_path / "kept")),
            _medivoy(env, good, "--save", str(tmp_path / "corpus"), "--decrypt"),
        )
    finally:
        await handle.terminate()

    assert both_code == 1, both
    assert f"ok    {good} (TranslationSweepWorkflow" in both
    assert f"FAIL  {bad} (TranslationSweepWorkflow" in both
    assert "Nondeterminism" in both or "nondeterminism" in both.lower(), both
    assert f"2 replayed, 1 not deterministic: {bad}" in both
    # The event that differs is named: the recorded timer where the current code schedules its
    # activity.
    failed = next(line for line in both.splitlines() if line.startswith(f"FAIL  {bad}"))
    assert re.search(r"HistoryEvent\(id: \d+, TimerStarted\)", failed), failed

    assert query_code == 0, query
    assert f"ok    {good}" in query and "1 replayed, 0 not deterministic" in query
    kept = tmp_path / "kept" / f"{good}.json"
    assert json.loads(kept.read_text())["workflow_type"] == TRANSLATION_SWEEP_WORKFLOW
    assert ENCRYPTED in kept.read_text(), "saved as the server holds it: encrypted"

    assert clear_code == 0, clear
    corpus = tmp_path / "corpus" / f"{good}.json"
    assert ENCRYPTED not in corpus.read_text()

    # The saved files replay: the encrypted one with the key, the decrypted one without any
    # (as tests/histories/ does in CI); the encrypted one without its key does not.
    keyless = {**env, "MEDIVOY_PAYLOAD_KEYS": "{}", "MEDIVOY_PAYLOAD_KEY_ID": ""}
    # After a rotation (a new key seals, the old one still opens) the old history replays.
    rotated_keys = {**json.loads(os.environ["MEDIVOY_PAYLOAD_KEYS"]), "rotated": new_key()}
    rotated = {
        **env,
        "MEDIVOY_PAYLOAD_KEYS": json.dumps(rotated_keys),
        "MEDIVOY_PAYLOAD_KEY_ID": "rotated",
    }
    (
        (kept_code, kept_out),
        (corpus_code, corpus_out),
        (lost_code, lost_out),
        (rotated_code, rotated_out),
    ) = await asyncio.gather(
        _medivoy(env, "--file", str(kept)),
        _medivoy(keyless, "--file", str(corpus)),
        _medivoy(keyless, "--file", str(kept)),
        _medivoy(rotated, "--file", str(kept)),
    )
    assert kept_code == 0, kept_out
    assert corpus_code == 0, corpus_out
    assert lost_code == 1, lost_out
    assert f"FAIL  {good}" in lost_out
    assert rotated_code == 0, rotated_out
    assert f"ok    {good}" in rotated_out
