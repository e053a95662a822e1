"""Schema fuzzing: schemathesis generates requests from our OpenAPI spec against a real server
(real database, Temporal and worker). No request may cause a 5xx, and every response must match
its documented status codes, content type and schema.

It runs as every role, one test each (so pytest-xdist spreads them): anonymous, a patient, a
doctor, a hospital admin, a coordinator and an admin. Each aims at real rows of other people:
the access matrix's world (tests/builders/access_world.py) is seeded, its booking and appointment
by their workflows, and every path parameter it has a seeder for is filled with the id (or slug,
code) of such a row, so the fuzzer reaches the code behind the object lookups. The callers are
the world's strangers: the rows belong to someone else.

Run time (2 cores): examples per operation are kept low (MEDIVOY_FUZZ_EXAMPLES, default 2), and
only anonymous and admin fuzz the whole spec (the other roles the operations with an id);
MEDIVOY_FUZZ_DEEP=1 adds the boundary-value "coverage" phase, which triples the time."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from temporalio.client import Client

from domain.access import Role
from runtime.postgres import free_port
from runtime.settings import Settings
from tests.builders.access_world import SEEDERS, World, build_world, seed, seeder_for
from workflows.invoice import deliver_invoice
from workflows.messages import InvoiceDelivery

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)
# Who fuzzes: the world's strangers, so the seeded rows are someone else's.
CALLERS = {
    "anonymous": "anonymous",
    "patient": "other_patient",
    "doctor": "other_doctor",
    "hospital_admin": "other_hospital_admin",
    "coordinator": "other_coordinator",
    "admin": "admin",
}


@pytest.fixture
def settings(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    """The fuzzer sends requests two at a time while the worker renders PDFs on a loaded
    machine: the workflow deadline (5 s) would then answer its documented 503, which
    tests/api/test_workflow_deadline.py holds; here it is raised, so a 5xx is a real fault.
    Uploads go to this test's own folder."""
    return make_settings(workflow_deadline_seconds=15, storage_dir=str(tmp_path / "files"))


# Anonymous and admin fuzz the whole spec; the other roles only the operations with an object
# in the path, aimed at someone else's row (what a role adds; it keeps the run short).
WHOLE_SPEC = {"anonymous", "admin"}


def _save(report_dir: Path, text: str) -> None:
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "output.txt").write_text(text)


def _toml(value: object) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


async def aim_at_seeded_rows(
    world: World,
    spec_paths: list[str],
    config: Path,
    temporal: Client,
    task_queue: str,
    *,
    render_invoice: bool,
) -> int:
    """A schemathesis.toml filling each path's parameters with the seeded rows' values."""
    for prefix in SEEDERS:
        await seed(world, prefix)
    if render_invoice:
        # An issued invoice has its PDF (rendered by the worker at issue): render the seeded
        # one now, or every send and download would wait for WeasyPrint on a loaded machine.
        invoice = uuid.UUID(world.seeded["/invoices/{id}"].params["id"])
        await deliver_invoice(
            temporal,
            task_queue,
            InvoiceDelivery(invoice_id=invoice),
            deadline=timedelta(seconds=90),
        )
    blocks = []
    for path in spec_paths:
        prefix = seeder_for(path.removeprefix("/api/v1"))
        if prefix is None:
            continue
        params = world.seeded[prefix].params
        names = [n for n in params if "{" + n + "}" in path]
        if names:
            values = ", ".join(f"{_toml('path.' + n)} = {_toml(params[n])}" for n in names)
            blocks.append(
                f"[[operations]]\ninclude-path = {_toml(path)}\nparameters = {{ {values} }}\n"
            )
    await asyncio.to_thread(config.write_text, "\n".join(blocks))
    return len(blocks)


async def run_schemathesis(
    base: str, config: Path, report_dir: Path, phases: str, *extra: str
) -> tuple[int, str]:
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert cli, "schemathesis is a dev dependency"
    examples = os.environ.get("MEDIVOY_FUZZ_EXAMPLES", "2")
    args = [cli, "--config-file", str(config), "run", f"{base}/openapi.json"]
    args += ["--checks", CHECKS, "--phases", phases]
    args += ["--max-examples", examples, "--seed", "20261125", "--generation-deterministic"]
    args += ["--request-timeout", "30", "--workers", "2", "--no-color"]
    args += ["--report-dir", str(report_dir)]
    # /health/services reports Temporal and the worker: its 503 is the documented answer when
    # either is slow or away (seen once here on a loaded machine), not a fault of the input it
    # never takes. tests/api/test_health.py holds it to its answers.
    args += ["--exclude-path", "/api/v1/health/services"]
    args += extra
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    await asyncio.to_thread(_save, report_dir, text)  # the whole story, next to the reports
    return process.returncode or 0, text


@pytest.mark.parametrize("role", list(CALLERS))
async def test_fuzzing_the_openapi_spec_finds_no_server_error_or_schema_mismatch(
    role, app, worker, sessionmaker, settings, temporal_client, task_queue, tmp_path
):
    world = await build_world(
        sessionmaker,
        settings,
        temporal=temporal_client,
        task_queue=task_queue,
        storage=app.state.adapters.storage,
    )
    config = tmp_path / "schemathesis.toml"
    aimed = await aim_at_seeded_rows(
        world,
        list(app.openapi()["paths"]),
        config,
        temporal_client,
        task_queue,
        # Only admins reach another patient's invoice (a coordinator: those of the bookings
        # assigned to them, access.sees_money).
        render_invoice=role == Role.ADMIN,
    )
    assert aimed > 60, aimed  # the paths with an id in them, filled with real rows
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.05)
        extra = [f"--header={name}:{value}" for name, value in world.headers(CALLERS[role]).items()]
        if role not in WHOLE_SPEC:
            extra.append("--include-path-regex=\\{")  # the operations aimed at someone's row
        phases = (
            "examples,coverage,fuzzing"
            if os.environ.get("MEDIVOY_FUZZ_DEEP")
            else "examples,fuzzing"
        )
        code, output = await run_schemathesis(
            f"http://127.0.0.1:{port}",
            config,
            tmp_path / role,
            phases,
            *extra,
        )
        assert code == 0, output[-8000:]
    finally:
        server.should_exit = True
        await serving
