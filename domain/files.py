"""What an uploaded file is and whether we keep it: its type read from its first bytes (never
from its name or the client's Content-Type), its size, and a name that is safe to send back."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

from domain.errors import Invalid


@dataclass(frozen=True)
class FileKind:
    name: str  # "pdf"
    mime: str  # "application/pdf": what file_type stores and downloads are served as
    extension: str  # ".pdf"


PDF = FileKind("pdf", "application/pdf", ".pdf")
PNG = FileKind("png", "image/png", ".png")
JPEG = FileKind("jpeg", "image/jpeg", ".jpg")
GIF = FileKind("gif", "image/gif", ".gif")
WEBP = FileKind("webp", "image/webp", ".webp")
DICOM = FileKind("dicom", "application/dicom", ".dcm")

IMAGES: frozenset[FileKind] = frozenset({PNG, JPEG, GIF, WEBP})
DOCUMENTS: frozenset[FileKind] = frozenset({PDF, PNG, JPEG})
# Scans, reports and imaging: what a patient or a lab sends about a body.
MEDICAL: frozenset[FileKind] = frozenset({PDF, PNG, JPEG, GIF, WEBP, DICOM})

BY_MIME: dict[str, FileKind] = {k.mime: k for k in (PDF, PNG, JPEG, GIF, WEBP, DICOM)}


class FileRejected(Invalid):
    """An upload we do not keep (400): FILE_EMPTY, FILE_TOO_LARGE or FILE_TYPE_NOT_ALLOWED."""


def detect(head: bytes) -> FileKind | None:
    """The file's type from its signature; None when it is none we know."""
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    # DICOM Part 10: a 128-byte preamble, then the magic word.
    if len(head) >= 132 and head[128:132] == b"DICM":
        return DICOM
    return None


def check_upload(data: bytes, *, allowed: frozenset[FileKind], max_bytes: int) -> FileKind:
    """The kind of an acceptable file; FileRejected with the reason otherwise."""
    if not data:
        raise FileRejected("The file is empty", code="FILE_EMPTY")
    if len(data) > max_bytes:
        raise FileRejected(
            f"The file is larger than {max_bytes} bytes",
            code="FILE_TOO_LARGE",
            details={"max_bytes": max_bytes},
        )
    kind = detect(data[:512])
    if kind is None or kind not in allowed:
        accepted = sorted(k.mime for k in allowed)
        raise FileRejected(
            "This type of file is not accepted here; send one of " + ", ".join(accepted),
            code="FILE_TYPE_NOT_ALLOWED",
            details={"accepted": accepted},
        )
    return kind


_UNSAFE = re.compile(r"[^\w .()+-]", re.UNICODE)


def clean_name(name: str | None, *, limit: int = 255) -> str | None:
    """The client's file name reduced to a label: no folders, no control characters, no
    leading dots. Kept as metadata only; it never becomes part of a storage key."""
    if not name:
        return None
    base = re.split(r"[/\\]", name)[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C")
    base = _UNSAFE.sub("_", base).strip(" .")
    return base[:limit] or None


def download_name(name: str | None, kind: FileKind | None, fallback: str = "file") -> str:
    """A file name for the download: the cleaned original, ending in the real type's extension."""
    base = clean_name(name, limit=200) or fallback
    if kind is not None:
        _, dot, ext = base.rpartition(".")
        known = {kind.extension, ".jpeg"} if kind.name == "jpeg" else {kind.extension}
        if not dot or "." + ext.lower() not in known:
            base = base + kind.extension
    return base


def content_disposition(filename: str) -> str:
    """attachment with an ASCII fallback and the UTF-8 name (RFC 6266 / 5987)."""
    ascii_name = (
        unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode() or "file"
    )
    ascii_name = re.sub(r'["\\;\r\n]', "_", ascii_name)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
