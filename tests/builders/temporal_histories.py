"""Temporal histories as an outsider and as staff read them: every payload in a history (input,
results, signals, updates, failures, memos, search attributes), and what of a list of texts
shows up in the raw bytes the server stores."""

from __future__ import annotations

from collections.abc import Iterable

from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory

from runtime.codec import payloads_in


def history_payloads(history: WorkflowHistory) -> list[Payload]:
    return [p for event in history.events for p in payloads_in(event)]


def found_in(blobs: Iterable[bytes], needles: Iterable[str]) -> set[str]:
    """The needles (as UTF-8, any case) that occur in any blob."""
    haystack = b"\n".join(blobs).lower()
    return {n for n in needles if n.lower().encode() in haystack}
