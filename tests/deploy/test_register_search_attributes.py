"""`medivoy temporal register-search-attributes` (the compose job) adds the search attributes of
temporal/search_attributes.json to a server that has none of them, and is a no-op the next time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.postgres import free_port, port_open
from runtime.temporal_server import SEARCH_ATTRIBUTES, binary

MEDIVOY = str(Path(sys.executable).parent / "medivoy")


@pytest.fixture
def bare_temporal(tmp_path: Path) -> Iterator[str]:
    """A dev server started without our search attributes (as a fresh cluster is)."""
    port = free_port()
    with open(tmp_path / "temporal.log", "wb") as log:
        process = subprocess.Popen(
            [
                *(binary("temporal"), "server", "start-dev", "--headless"),
                *("--ip", "127.0.0.1", "--port", str(port), "--log-level", "warn"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not port_open("127.0.0.1", port):
            assert process.poll() is None and time.monotonic() < deadline, "no dev server"
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(15)


def _listed(address: str) -> str:
    return subprocess.run(
        [binary("temporal"), "operator", "search-attribute", "list", "--address", address],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout


def _register(address: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("MEDIVOY_")}
    env.update(MEDIVOY_TEMPORAL_ADDRESS=address, MEDIVOY_DATA_DIR=str(tmp_path / "data"))
    return subprocess.run(
        [MEDIVOY, "temporal", "register-search-attributes", "--wait", "20"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_registers_the_missing_search_attributes_once(bare_temporal: str, tmp_path: Path) -> None:
    before = _listed(bare_temporal)
    assert not any(name in before for name in SEARCH_ATTRIBUTES)

    first = _register(bare_temporal, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Search attributes added to namespace default" in first.stdout
    after = _listed(bare_temporal)
    for name in SEARCH_ATTRIBUTES:
        assert name in after, after

    again = _register(bare_temporal, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "already registered" in again.stdout


def test_says_which_server_it_could_not_reach(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("MEDIVOY_")}
    env.update(MEDIVOY_TEMPORAL_ADDRESS=address, MEDIVOY_DATA_DIR=str(tmp_path / "data"))
    run = subprocess.run(
        [MEDIVOY, "temporal", "register-search-attributes", "--wait", "0"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert f"Temporal at {address}" in run.stderr
    assert "Traceback" not in run.stderr
