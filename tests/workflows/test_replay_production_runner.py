"""The recorded histories replay under the worker's own runner too (worker.workflow_runner_for:
without the SDK's sandbox by default, every run sharing the modules imported once), and the
sandbox comes back with its setting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from runtime.settings import Settings
from runtime.temporal import converter
from worker import workflow_runner_for
from workflows import ALL_WORKFLOWS

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
RECORDED = {p.stem: json.loads(p.read_text()) for p in sorted(HISTORIES.glob("*.json"))}


@pytest.mark.parametrize("name", sorted(RECORDED))
async def test_recorded_history_replays_under_the_production_runner(name: str):
    saved = RECORDED[name]
    history = WorkflowHistory.from_json(saved["workflow_id"], saved["history"])
    settings = Settings(_env_file=None)
    replayer = Replayer(
        workflows=ALL_WORKFLOWS,
        data_converter=converter(settings),
        workflow_runner=workflow_runner_for(settings),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


def test_the_sandbox_is_a_setting():
    assert isinstance(workflow_runner_for(Settings(_env_file=None)), UnsandboxedWorkflowRunner)
    sandboxed = Settings(_env_file=None, worker_workflow_sandbox=True)
    assert isinstance(workflow_runner_for(sandboxed), SandboxedWorkflowRunner)
