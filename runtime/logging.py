"""Structured JSON logs (structlog); request id, user id and workflow id ride in contextvars.

The standard library's records (Temporal's workflow and activity loggers, uvicorn, libraries)
go through the same processors and renderer, so every line is one JSON object; Temporal's own
context on a record becomes `workflow_id` / `run_id` fields. Lines name ids, statuses and error
kinds only: no request or message body is ever logged.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

_HANDLER_MARK = "_medivoy_handler"


def _temporal_ids(
    logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The workflow and run ids Temporal's logger adapters attach to a stdlib record."""
    record = event.get("_record")
    if record is None:
        return event
    workflow = getattr(record, "temporal_workflow", None)
    if isinstance(workflow, dict):
        event.setdefault("workflow_id", workflow.get("workflow_id"))
        event.setdefault("run_id", workflow.get("run_id"))
        event.setdefault("workflow_type", workflow.get("workflow_type"))
    act = getattr(record, "temporal_activity", None)
    if isinstance(act, dict):
        event.setdefault("workflow_id", act.get("workflow_id"))
        event.setdefault("run_id", act.get("workflow_run_id"))
        event.setdefault("activity", act.get("activity_type"))
    event.setdefault("logger", record.name)
    return event


def configure_logging(level: str = "INFO", json: bool = True, stream: TextIO | None = None) -> None:
    out = stream or sys.stderr
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(out),
        # Not cached: a later configure_logging (another stream or level) reaches every logger.
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, _temporal_ids],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    # Ours replace ours only: handlers others installed (pytest's capture) stay.
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


log = structlog.get_logger("medivoy")
