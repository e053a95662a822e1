"""Upload checks: the type comes from the bytes, never the name; empty, oversized and unknown
files are refused with their own code; names sent back are safe."""

from __future__ import annotations

import pytest

from domain.files import (
    DICOM,
    DOCUMENTS,
    GIF,
    IMAGES,
    JPEG,
    MEDICAL,
    PDF,
    PNG,
    WEBP,
    FileKind,
    FileRejected,
    check_upload,
    clean_name,
    content_disposition,
    detect,
    download_name,
)
from tests.builders import upload_samples as files


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (files.PDF, PDF),
        (files.PNG, PNG),
        (files.JPEG, JPEG),
        (files.GIF, GIF),
        (files.WEBP, WEBP),
        (files.DICOM, DICOM),
        (files.SCRIPT, None),
        (files.HTML, None),
        (b"PK\x03\x04zip", None),
        (b"MZ\x90\x00", None),
        (b"\x00" * 128 + b"DIC", None),
    ],
)
def test_type_is_read_from_the_signature(data: bytes, kind: FileKind | None) -> None:
    assert detect(data) == kind


def test_a_script_renamed_pdf_is_refused() -> None:
    with pytest.raises(FileRejected) as refused:
        check_upload(files.SCRIPT, allowed=MEDICAL, max_bytes=1000)
    assert refused.value.code == "FILE_TYPE_NOT_ALLOWED"
    assert "application/pdf" in refused.value.details["accepted"]


def test_empty_and_oversized_files_are_refused_with_their_code() -> None:
    with pytest.raises(FileRejected) as empty:
        check_upload(b"", allowed=MEDICAL, max_bytes=1000)
    assert empty.value.code == "FILE_EMPTY"
    with pytest.raises(FileRejected) as large:
        check_upload(files.PDF + b"\x00" * 1000, allowed=MEDICAL, max_bytes=1000)
    assert large.value.code == "FILE_TOO_LARGE"
    assert check_upload(files.PDF, allowed=MEDICAL, max_bytes=len(files.PDF)) == PDF


def test_each_upload_kind_accepts_only_its_types() -> None:
    assert check_upload(files.PNG, allowed=IMAGES, max_bytes=1000) == PNG
    with pytest.raises(FileRejected):
        check_upload(files.PDF, allowed=IMAGES, max_bytes=1000)
    with pytest.raises(FileRejected):
        check_upload(files.DICOM, allowed=DOCUMENTS, max_bytes=1000)
    assert check_upload(files.DICOM, allowed=MEDICAL, max_bytes=1000) == DICOM


@pytest.mark.parametrize(
    ("name", "clean"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system.ini", "system.ini"),
        ("scan\x00.pdf", "scan.pdf"),
        ("chest x-ray (1).pdf", "chest x-ray (1).pdf"),
        ('a";b.pdf', "a__b.pdf"),
        ("..", None),
        ("", None),
        (None, None),
        ("rapport médical.pdf", "rapport médical.pdf"),
    ],
)
def test_client_file_names_are_reduced_to_a_label(name: str | None, clean: str | None) -> None:
    assert clean_name(name) == clean


def test_download_name_carries_the_real_extension() -> None:
    assert download_name("scan.pdf", PDF) == "scan.pdf"
    assert download_name("photo.jpeg", JPEG) == "photo.jpeg"
    assert download_name("evil.sh", PDF) == "evil.sh.pdf"
    assert download_name(None, PDF, fallback="medical-record") == "medical-record.pdf"


def test_content_disposition_is_safe_for_any_name() -> None:
    header = content_disposition('rapport "médical"\r\n.pdf')
    assert "\r" not in header and "\n" not in header
    assert header.startswith('attachment; filename="rapport _medical___.pdf"')
    assert "filename*=UTF-8''rapport%20%22m%C3%A9dical%22%0D%0A.pdf" in header
