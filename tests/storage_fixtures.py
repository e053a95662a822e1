"""Storage fixtures: a real moto S3 server on a free local port and a fresh bucket per test.
Use with `pytest_plugins = ["tests.storage_fixtures"]`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer

from runtime.postgres import free_port
from tests.upload_samples import s3


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(moto_endpoint: str) -> str:
    name = "medivoy-test-" + uuid.uuid4().hex[:12]
    s3(moto_endpoint).create_bucket(Bucket=name)
    return name
