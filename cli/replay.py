"""`medivoy replay`: replay workflow histories against the current code to catch non-determinism
before a deploy: from a running server (by workflow id or visibility query) or from JSON files
(the corpus in tests/histories/, or `temporal workflow show --output json`)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from runtime.codec import payloads_in


@dataclass(frozen=True)
class Replayed:
    workflow_id: str
    workflow_type: str
    events: int
    failure: str | None

    @property
    def line(self) -> str:
        what = f"{self.workflow_id} ({self.workflow_type}, {self.events} events)"
        if self.failure is None:
            return f"ok    {what}"
        return f"FAIL  {what}: {self.failure}"


def workflow_type(history: WorkflowHistory) -> str:
    if not history.events:
        return "?"
    return history.events[0].workflow_execution_started_event_attributes.workflow_type.name or "?"


def load_file(path: Path) -> WorkflowHistory:
    """A corpus file ({"workflow_type", "workflow_id", "history"}) or a bare history
    ({"events": [...]}, named by the file)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a JSON history ({exc})") from exc
    if isinstance(data, dict) and "history" in data:
        return WorkflowHistory.from_json(str(data.get("workflow_id") or path.stem), data["history"])
    if isinstance(data, dict) and "events" in data:
        return WorkflowHistory.from_json(path.stem, data)
    raise ValueError(f"{path}: neither a corpus file nor a history (no 'history' or 'events')")


async def fetch(
    client: Client, workflow_ids: Sequence[str], query: str | None, limit: int
) -> list[WorkflowHistory]:
    """The histories of these workflows (their latest run) and of the query's matches."""
    histories = [await client.get_workflow_handle(wid).fetch_history() for wid in workflow_ids]
    if query:
        async for execution in client.list_workflows(query, limit=limit):
            handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
            histories.append(await handle.fetch_history())
    return histories


async def replay(histories: Sequence[WorkflowHistory], converter: DataConverter) -> list[Replayed]:
    from workflows import ALL_WORKFLOWS

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=converter)
    results: list[Replayed] = []
    async with replayer.workflow_replay_iterator(each()) as replayed:
        async for result in replayed:
            failure = result.replay_failure
            results.append(
                Replayed(
                    workflow_id=result.history.workflow_id,
                    workflow_type=workflow_type(result.history),
                    events=len(result.history.events),
                    failure=None if failure is None else f"{type(failure).__name__}: {failure}",
                )
            )
    return results


def _file_name(workflow_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", workflow_id) + ".json"


async def save(
    histories: Iterable[WorkflowHistory], folder: Path, converter: DataConverter, decrypt: bool
) -> list[Path]:
    """Each history as a corpus file in `folder`, payloads as the server holds them (encrypted)
    unless `decrypt` (for test data only: the corpus is committed and replayed without keys)."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    written = []
    for history in histories:
        if decrypt and converter.payload_codec is not None:
            for event in history.events:
                for payload in payloads_in(event):
                    (clear,) = await converter.payload_codec.decode([payload])
                    payload.CopyFrom(clear)
        path = folder / _file_name(history.workflow_id)
        await asyncio.to_thread(
            path.write_text,
            json.dumps(
                {
                    "workflow_type": workflow_type(history),
                    "workflow_id": history.workflow_id,
                    "history": json.loads(history.to_json()),
                },
                indent=1,
            ),
        )
        written.append(path)
    return written
