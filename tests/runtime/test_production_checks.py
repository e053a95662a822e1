"""With MEDIVOY_ENV=production, `medivoy api` and `medivoy worker` refuse unsafe settings with a
message naming the setting, and start without any embedded server when the settings are sound
(the worker then runs workflows against the real PostgreSQL and Temporal it is given)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError

from runtime.postgres import free_port
from runtime.production import production_problems
from runtime.settings import Settings
from runtime.temporal_server import TemporalDevServer
from workflows.messages import TRANSLATION_SWEEP_SCHEDULE, TRANSLATION_SWEEP_WORKFLOW
from workflows.translation import SweepSummary

MEDIVOY = str(Path(sys.executable).parent / "medivoy")
GOOD_SECRET = "prod-secret-" + "x" * 40
PAYLOAD_KEY = base64.b64encode(b"k" * 32).decode()
STRONG_HASH = {
    "MEDIVOY_PASSWORD_HASH_TIME_COST": "3",
    "MEDIVOY_PASSWORD_HASH_MEMORY_KIB": "65536",
    "MEDIVOY_PASSWORD_HASH_PARALLELISM": "4",
}


def _env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("MEDIVOY_")}
    env.update(
        MEDIVOY_ENV="production",
        MEDIVOY_DATA_DIR=str(tmp_path / "data"),
        # Nothing listens there: a refusal comes before any connection.
        MEDIVOY_DATABASE_URL=f"postgresql://medivoy:pw@127.0.0.1:{free_port()}/medivoy",
        MEDIVOY_TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",
        MEDIVOY_JWT_SECRET=GOOD_SECRET,
        MEDIVOY_PAYLOAD_KEYS=json.dumps({"2026-12": PAYLOAD_KEY}),
        MEDIVOY_LOG_JSON="false",
        **STRONG_HASH,
    )
    env.update(overrides)
    return {k: v for k, v in env.items() if v != "<unset>"}


def _refusals(tmp_path: Path, cases: dict[str, tuple[str, dict[str, str]]]) -> dict[str, str]:
    """Run every case at once (verb, env overrides); the stderr of each, asserting exit 2."""
    running = {
        name: subprocess.Popen(
            [MEDIVOY, verb],
            env=_env(tmp_path, **overrides),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, (verb, overrides) in cases.items()
    }
    answers = {}
    for name, process in running.items():
        try:
            out, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            pytest.fail(f"{name}: it started instead of refusing")
        assert process.returncode == 2, f"{name}: exit {process.returncode}\n{out}\n{err}"
        answers[name] = err
    return answers


def test_api_and_worker_refuse_unsafe_production_settings(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    dev_secret = "generated-by-medivoy-dev-" + "y" * 60
    (data / "jwt_secret").write_text(dev_secret + "\n")
    cases = {
        "api no secret": ("api", {"MEDIVOY_JWT_SECRET": "<unset>"}),
        "worker dev secret": ("worker", {"MEDIVOY_JWT_SECRET": dev_secret}),
        "api open cors": ("api", {"MEDIVOY_CORS_ORIGINS": '["https://app.example", "*"]'}),
        "worker debug": ("worker", {"MEDIVOY_LOG_LEVEL": "debug"}),
        "api no database": ("api", {"MEDIVOY_DATABASE_URL": "<unset>"}),
        "worker no payload key": ("worker", {"MEDIVOY_PAYLOAD_KEYS": "<unset>"}),
        "api bad payload key": ("api", {"MEDIVOY_PAYLOAD_KEYS": '{"k1": "c2hvcnQ="}'}),
    }
    err = _refusals(tmp_path, cases)
    for name in cases:
        assert "Traceback" not in err[name], err[name]
    assert "MEDIVOY_DATABASE_URL not set; with MEDIVOY_ENV=production" in err["api no database"]
    assert "MEDIVOY_PAYLOAD_KEYS is not set" in err["worker no payload key"]
    assert "payload key 'k1' is 5 bytes" in err["api bad payload key"]
    for name in (
        "api no secret",
        "worker dev secret",
        "api open cors",
        "worker debug",
        "worker no payload key",
    ):
        assert "refusing to start with MEDIVOY_ENV=production" in err[name]
    assert "MEDIVOY_JWT_SECRET is not set" in err["api no secret"]
    assert "the secret `medivoy dev` generated" in err["worker dev secret"]
    assert dev_secret not in err["worker dev secret"], "the secret itself is never printed"
    assert 'MEDIVOY_CORS_ORIGINS contains "*"' in err["api open cors"]
    assert "MEDIVOY_LOG_LEVEL is debug" in err["worker debug"]


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"jwt_secret": ""}, "MEDIVOY_JWT_SECRET is not set"),
        ({"jwt_secret": "changeme"}, "MEDIVOY_JWT_SECRET is 8 characters long"),
        ({"jwt_secret": "<dev>"}, "the secret `medivoy dev` generated"),
        ({"cors_origins": ["*"]}, 'MEDIVOY_CORS_ORIGINS contains "*"'),
        ({"log_level": "DEBUG"}, "MEDIVOY_LOG_LEVEL is DEBUG"),
        ({"password_hash_memory_kib": 8}, "argon2id cost below the production profile"),
        ({"password_hash_time_cost": 1}, "argon2id cost below the production profile"),
        ({"database_url": ""}, "MEDIVOY_DATABASE_URL is not set"),
        ({"temporal_address": ""}, "MEDIVOY_TEMPORAL_ADDRESS is not set"),
        ({"payload_keys": {}}, "MEDIVOY_PAYLOAD_KEYS is not set"),
        ({"codec_cors_origins": ["*"]}, 'MEDIVOY_CODEC_CORS_ORIGINS contains "*"'),
        ({"codec_token": "short"}, "MEDIVOY_CODEC_TOKEN is 5 characters long"),
    ],
)
def test_each_unsafe_setting_is_named(
    tmp_path: Path, overrides: dict[str, object], problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tests' own key (tests/conftest.py) would be merged into payload_keys={}.
    monkeypatch.delenv("MEDIVOY_PAYLOAD_KEYS", raising=False)
    monkeypatch.delenv("MEDIVOY_PAYLOAD_KEY_ID", raising=False)
    (tmp_path / "jwt_secret").write_text("the-dev-secret-" + "z" * 50 + "\n")
    if overrides.get("jwt_secret") == "<dev>":
        overrides = {"jwt_secret": "the-dev-secret-" + "z" * 50}
    values: dict[str, object] = {
        "env": "production",
        "data_dir": tmp_path,
        "database_url": "postgresql://medivoy:pw@db:5432/medivoy",
        "temporal_address": "temporal:7233",
        "jwt_secret": GOOD_SECRET,
        "payload_keys": {"2026-12": PAYLOAD_KEY},
        "password_hash_time_cost": 3,
        "password_hash_memory_kib": 65536,
        "password_hash_parallelism": 4,
    }
    sound = Settings(_env_file=None, **values)  # type: ignore[arg-type]
    assert production_problems(sound) == []
    unsafe = Settings(_env_file=None, **{**values, **overrides})  # type: ignore[arg-type]
    (found,) = production_problems(unsafe)
    assert problem in found
    # Outside production nothing is refused.
    assert production_problems(unsafe.model_copy(update={"env": "development"})) == []


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    err = _refusals(
        tmp_path,
        {
            "api": (
                "api",
                {
                    "MEDIVOY_JWT_SECRET": "<unset>",
                    "MEDIVOY_CORS_ORIGINS": '["*"]',
                    "MEDIVOY_LOG_LEVEL": "DEBUG",
                },
            )
        },
    )["api"]
    assert err.count("\n  - ") == 3, err


def test_a_sound_production_api_starts_without_embedded_servers(tmp_path: Path) -> None:
    port = free_port()
    env = _env(tmp_path, MEDIVOY_API_PORT=str(port), MEDIVOY_API_HOST="127.0.0.1")
    process = subprocess.Popen(
        [MEDIVOY, "api"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()[0].decode()
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the API did not answer"
                time.sleep(0.2)
        assert answer.status_code == 200
        # It started nothing of its own: no PostgreSQL or Temporal child, no data dir.
        import psutil

        assert psutil.Process(process.pid).children(recursive=True) == []
        assert not (tmp_path / "data").exists()
    finally:
        process.terminate()
        process.wait(15)


async def test_a_sound_production_worker_starts_without_embedded_servers_and_runs_workflows(
    tmp_path: Path,
    database_url: str,
    temporal_dev_server: TemporalDevServer,
    temporal_client: Client,
    task_queue: str,
) -> None:
    """`medivoy worker` with production settings against a real PostgreSQL and Temporal: it
    starts nothing of its own and runs a workflow (the translation sweep, which reads the
    database) sent to its task queue, with the same payload keys as the client."""
    env = _env(
        tmp_path,
        MEDIVOY_DATABASE_URL=database_url,
        MEDIVOY_TEMPORAL_ADDRESS=temporal_dev_server.address,
        MEDIVOY_TASK_QUEUE=task_queue,
        MEDIVOY_PAYLOAD_KEYS=os.environ["MEDIVOY_PAYLOAD_KEYS"],
        MEDIVOY_PAYLOAD_KEY_ID=os.environ["MEDIVOY_PAYLOAD_KEY_ID"],
    )
    process = await asyncio.create_subprocess_exec(
        MEDIVOY,
        "worker",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        result = await asyncio.wait_for(
            temporal_client.execute_workflow(
                TRANSLATION_SWEEP_WORKFLOW,
                id="production-worker-" + uuid.uuid4().hex,
                task_queue=task_queue,
                result_type=SweepSummary,
            ),
            timeout=120,
        )
        assert process.returncode is None
        assert result == SweepSummary(started=0, signalled=0)
        import psutil

        assert psutil.Process(process.pid).children(recursive=True) == []
        assert not (tmp_path / "data").exists()
    finally:
        process.terminate()
        output = (await asyncio.wait_for(process.communicate(), 30))[0].decode()
        # The worker declares the Schedules on the server it joins: leave the session's clean.
        with contextlib.suppress(RPCError):
            await temporal_client.get_schedule_handle(TRANSLATION_SWEEP_SCHEDULE).delete()
    assert "worker_started" in output, output
