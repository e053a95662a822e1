"""Temporal histories as an outsider and as staff read them: every payload in a history (input,
results, signals, updates, failures, memos, search attributes, user metadata), what of a list of
texts shows up in the raw bytes the server stores, and what the Temporal UI shows of a run."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowHistory

from runtime.codec import payloads_in

# The built-in query the UI asks for a run's current details (and its handlers).
METADATA_QUERY = "__temporal_workflow_metadata"


def history_payloads(history: WorkflowHistory) -> list[Payload]:
    return [p for event in history.events for p in payloads_in(event)]


def found_in(blobs: Iterable[bytes], needles: Iterable[str]) -> set[str]:
    """The needles (as UTF-8, any case) that occur in any blob."""
    haystack = b"\n".join(blobs).lower()
    return {n for n in needles if n.lower().encode() in haystack}


@dataclass
class UiView:
    """What the Temporal UI shows of one run, decoded as staff see it: its static summary and
    details, its current details (the `__temporal_workflow_metadata` query) and the summaries
    on its history's events (activities, local activities' markers, timers, children), by
    event type name ("EVENT_TYPE_TIMER_STARTED")."""

    workflow_id: str
    workflow_type: str
    static_summary: str | None
    static_details: str | None
    current_details: str
    event_summaries: dict[str, list[str]] = field(default_factory=dict)

    def texts(self) -> list[str]:
        shown = [self.static_summary or "", self.static_details or "", self.current_details]
        return shown + [s for summaries in self.event_summaries.values() for s in summaries]


async def ui_view(client: Client, workflow_id: str, run_id: str | None = None) -> UiView:
    """Read back, through `client`'s data converter (the codec), what the UI shows of a run.
    The query needs a worker polling the run's task queue (a closed run is replayed for it)."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    described = await handle.describe()
    metadata = await handle.query(METADATA_QUERY, result_type=WorkflowMetadata)
    summaries: dict[str, list[str]] = {}
    history = await handle.fetch_history()
    for event in history.events:
        if not event.HasField("user_metadata") or not event.user_metadata.HasField("summary"):
            continue
        [text] = await client.data_converter.decode([event.user_metadata.summary], [str])
        summaries.setdefault(EventType.Name(event.event_type), []).append(text)
    return UiView(
        workflow_id=workflow_id,
        workflow_type=described.workflow_type,
        static_summary=await described.static_summary(),
        static_details=await described.static_details(),
        current_details=metadata.current_details,
        event_summaries=summaries,
    )
