"""The file stores: S3 through boto3 against a real moto server, and the local folder; both
keep what is put, read it back, and remove it; neither accepts a key that escapes its place."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from activities.providers.storage import (
    LocalStorage,
    ObjectNotFound,
    S3Storage,
    Storage,
    StorageError,
    new_key,
)
from activities.providers.wiring import build_storage
from runtime.settings import Settings
from tests.builders.upload_samples import PDF, bucket_keys, s3, s3_settings

pytest_plugins = ["tests.fixtures.storage_fixtures"]


async def _round_trip(storage: Storage) -> None:
    patient_id = uuid.uuid4()
    key = new_key("medical-records", patient_id)
    assert key.startswith(f"medical-records/{patient_id}/")
    stored = await storage.put(
        key, PDF, "application/pdf", {"original-name": "résumé scan.pdf", "uploaded-by": "u1"}
    )
    assert stored.size == len(PDF)
    assert await storage.exists(key)
    assert await storage.get(key) == PDF
    assert b"".join([chunk async for chunk in storage.stream(key)]) == PDF
    head = await storage.head(key)
    assert head.content_type == "application/pdf"
    assert head.size == len(PDF)
    assert head.metadata["original-name"] == "résumé scan.pdf"
    await storage.delete(key)
    assert not await storage.exists(key)
    with pytest.raises(ObjectNotFound):
        await storage.get(key)
    await storage.delete(key)  # removing what is gone is not an error


async def test_s3_storage_round_trip_against_moto(moto_endpoint: str, s3_bucket: str) -> None:
    storage = S3Storage(s3(moto_endpoint), s3_bucket)
    await _round_trip(storage)
    assert bucket_keys(moto_endpoint, s3_bucket) == []


async def test_s3_object_is_in_the_bucket_with_its_content_type(
    moto_endpoint: str, s3_bucket: str
) -> None:
    settings = s3_settings(Settings(_env_file=None), moto_endpoint, s3_bucket)  # type: ignore[call-arg]
    storage = build_storage(settings)
    assert storage.backend == "s3"
    key = new_key("documents", uuid.uuid4())
    await storage.put(key, PDF, "application/pdf", {})
    assert bucket_keys(moto_endpoint, s3_bucket) == [key]
    raw = s3(moto_endpoint).get_object(Bucket=s3_bucket, Key=key)
    assert raw["ContentType"] == "application/pdf"
    assert raw["Body"].read() == PDF


async def test_local_storage_round_trip_and_survives_a_new_instance(tmp_path: Path) -> None:
    await _round_trip(LocalStorage(tmp_path))
    key = new_key("images", uuid.uuid4())
    await LocalStorage(tmp_path).put(key, b"\x89PNG\r\n\x1a\n", "image/png", {})
    assert await LocalStorage(tmp_path).get(key) == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / key).is_file()


def test_local_storage_is_the_default_under_data_dir(tmp_path: Path) -> None:
    storage = build_storage(Settings(_env_file=None, data_dir=tmp_path))  # type: ignore[call-arg]
    assert isinstance(storage, LocalStorage)
    assert storage.root == (tmp_path / "files").resolve()


@pytest.mark.parametrize(
    "key",
    [
        "../../etc/passwd",
        "medical-records/../../etc/passwd",
        "/etc/passwd",
        "medical-records/p1/..",
        "medical-records/p1/x/../../../secret",
        "medical-records\\p1\\x",
        "medical-records/p1/evil.sh",
        "medical-records",
        "",
    ],
)
async def test_keys_that_could_escape_are_refused(tmp_path: Path, key: str) -> None:
    storage = LocalStorage(tmp_path / "files")
    with pytest.raises(StorageError):
        await storage.put(key, PDF, "application/pdf", {})
    with pytest.raises(StorageError):
        await storage.get(key)
    assert not (tmp_path / "etc").exists()
