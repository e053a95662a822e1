"""File storage: one small protocol, an S3 implementation (boto3) and a local-folder one (which
one serves is picked in activities/providers/wiring.py). Keys are made by us (`new_key`), never
from a client's file name, and are checked before they touch a path or a bucket."""

from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, unquote

if TYPE_CHECKING:
    from runtime.settings import Settings

CHUNK = 64 * 1024
# Folders of generated ids: "medical-records/<patient uuid>/<uuid>".
KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}(/[A-Za-z0-9][A-Za-z0-9-]{0,63}){1,4}$")


class StorageError(Exception):
    """The store failed or the object is not there."""


class ObjectNotFound(StorageError):
    pass


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    content_type: str
    metadata: dict[str, str]


def new_key(folder: str, owner: uuid.UUID | str) -> str:
    """A fresh key under a folder and an owner id: `medical-records/<patient_id>/<uuid>`."""
    key = f"{folder}/{owner}/{uuid.uuid4()}"
    return check_key(key)


def check_key(key: str) -> str:
    if not KEY.fullmatch(key):
        raise StorageError("Invalid storage key")
    return key


class Storage(Protocol):
    backend: str

    async def put(
        self, key: str, data: bytes, content_type: str, metadata: Mapping[str, str]
    ) -> StoredObject: ...

    async def get(self, key: str) -> bytes: ...

    def stream(self, key: str) -> AsyncIterator[bytes]:
        """The object's bytes in chunks (ObjectNotFound on the first read if missing)."""
        ...

    async def head(self, key: str) -> StoredObject: ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Remove the object; removing one that is not there is not an error."""
        ...


class LocalStorage:
    """Objects as files under one folder, with their content type and metadata beside them in
    `<file>.meta.json`. Behaves like the bucket: what is put can be read back after a restart."""

    backend = "local"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root):
            raise StorageError("Invalid storage key")
        return path

    @staticmethod
    def _meta_path(path: Path) -> Path:
        return path.with_name(path.name + ".meta.json")

    def _put_sync(self, path: Path, data: bytes, meta: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        for target, content in ((path, data), (self._meta_path(path), json.dumps(meta).encode())):
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(content)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    async def put(
        self, key: str, data: bytes, content_type: str, metadata: Mapping[str, str]
    ) -> StoredObject:
        path = self._path(key)
        meta = {"content_type": content_type, "metadata": dict(metadata)}
        await asyncio.to_thread(self._put_sync, path, data, meta)
        return StoredObject(key, len(data), content_type, dict(metadata))

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK):
                yield chunk
        finally:
            handle.close()

    async def head(self, key: str) -> StoredObject:
        path = self._path(key)

        def read() -> StoredObject:
            try:
                size = path.stat().st_size
                meta = json.loads(self._meta_path(path).read_text())
            except FileNotFoundError as exc:
                raise ObjectNotFound(key) from exc
            return StoredObject(key, size, meta["content_type"], meta["metadata"])

        return await asyncio.to_thread(read)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def delete(self, key: str) -> None:
        path = self._path(key)

        def remove() -> None:
            path.unlink(missing_ok=True)
            self._meta_path(path).unlink(missing_ok=True)

        await asyncio.to_thread(remove)


class S3Storage:
    """Objects in one S3 bucket through boto3 (whose calls block, so they run in a thread).
    S3 metadata must be ASCII: values are percent-encoded on the way in and decoded back."""

    backend = "s3"

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    @staticmethod
    def _missing(exc: Exception) -> bool:
        response = getattr(exc, "response", None) or {}
        code = str(response.get("Error", {}).get("Code", ""))
        return code in ("404", "NoSuchKey", "NotFound")

    async def put(
        self, key: str, data: bytes, content_type: str, metadata: Mapping[str, str]
    ) -> StoredObject:
        encoded = {k: quote(v, safe="") for k, v in metadata.items()}
        await asyncio.to_thread(
            self.client.put_object,
            Bucket=self.bucket,
            Key=check_key(key),
            Body=data,
            ContentType=content_type,
            Metadata=encoded,
            ServerSideEncryption="AES256",
        )
        return StoredObject(key, len(data), content_type, dict(metadata))

    async def _get_object(self, key: str) -> dict[str, Any]:
        try:
            response: dict[str, Any] = await asyncio.to_thread(
                self.client.get_object, Bucket=self.bucket, Key=check_key(key)
            )
        except Exception as exc:
            if self._missing(exc):
                raise ObjectNotFound(key) from exc
            raise
        return response

    async def get(self, key: str) -> bytes:
        body = (await self._get_object(key))["Body"]
        try:
            data: bytes = await asyncio.to_thread(body.read)
        finally:
            body.close()
        return data

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        body = (await self._get_object(key))["Body"]
        try:
            while chunk := await asyncio.to_thread(body.read, CHUNK):
                yield chunk
        finally:
            body.close()

    async def head(self, key: str) -> StoredObject:
        try:
            response = await asyncio.to_thread(
                self.client.head_object, Bucket=self.bucket, Key=check_key(key)
            )
        except Exception as exc:
            if self._missing(exc):
                raise ObjectNotFound(key) from exc
            raise
        metadata = {k: unquote(v) for k, v in response.get("Metadata", {}).items()}
        return StoredObject(
            key, int(response["ContentLength"]), str(response.get("ContentType", "")), metadata
        )

    async def exists(self, key: str) -> bool:
        try:
            await self.head(key)
        except ObjectNotFound:
            return False
        return True

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=check_key(key))


def s3_client(settings: Settings) -> Any:
    import boto3

    secret = settings.aws_secret_access_key.get_secret_value()
    return boto3.client(
        "s3",
        region_name=settings.aws_region,
        endpoint_url=settings.s3_endpoint_url or None,
        aws_access_key_id=settings.aws_access_key_id or None,
        aws_secret_access_key=secret or None,
    )


def store_once(
    storage: Storage,
    key: str,
    render: Callable[[], bytes],
    content_type: str,
    metadata: Mapping[str, str],
) -> tuple[StoredObject, bool]:
    """From a synchronous activity (a thread of the worker's pool): the object already stored at
    `key`, else `render()` stored there; and whether it was rendered now. The adapter's calls
    run on a private event loop of this thread (asyncio.run refuses a running loop, which would
    mean the activity was called on the worker's loop by mistake)."""

    async def head() -> StoredObject | None:
        try:
            return await storage.head(key)
        except ObjectNotFound:
            return None

    existing = asyncio.run(head())
    if existing is not None:
        return existing, False
    return asyncio.run(storage.put(key, render(), content_type, metadata)), True
