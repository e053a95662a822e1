"""Uploads over HTTP (/upload/*) and the media index (/media): files are checked by content,
stored under generated keys, and a refused upload leaves no row and no object behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from activities.providers.wiring import build_adapters
from domain.models.care import MedicalRecord
from domain.models.content import Media
from tests.builders.care_builders import team
from tests.builders.upload_samples import (
    GIF,
    JPEG,
    PDF,
    PNG,
    SCRIPT,
    WEBP,
    bucket_keys,
    local_files,
    s3_settings,
)

pytest_plugins = ["tests.fixtures.storage_fixtures"]

LIMIT = 64 * 1024


@pytest.fixture
def settings(settings, tmp_path):
    return settings.model_copy(update={"data_dir": tmp_path, "max_upload_bytes": LIMIT})


@pytest.fixture
def store(tmp_path) -> Path:
    return tmp_path / "files"


async def counts(sessionmaker) -> tuple[int, int]:
    async with sessionmaker() as db:
        records = await db.scalar(select(func.count()).select_from(MedicalRecord))
        media = await db.scalar(select(func.count()).select_from(Media))
    return int(records or 0), int(media or 0)


async def post(client, who, path, data, name, content_type="application/pdf", **form):
    return await client.post(
        f"/upload/{path}",
        headers=who.headers if who else {},
        data=form,
        files={"file": (name, data, content_type)},
    )


@pytest.mark.parametrize(
    ("data", "mime"),
    [(PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"), (WEBP, "image/webp")],
)
async def test_image_upload_stores_file_and_media_row(
    client, sessionmaker, settings, store, data, mime
):
    t = await team(sessionmaker, settings)
    created = await post(
        client, t.doctor, "image", data, "me.png", "text/plain", entity_type="doctor"
    )
    assert created.status_code == 201, created.text
    media = created.json()["data"]
    assert media["file_type"] == mime  # from the bytes, not the name or the client's type
    assert media["file_name"] == "me.png"
    assert media["file_size"] == len(data)
    assert media["entity_type"] == "doctor"
    assert media["uploaded_by_user_id"] == str(t.doctor.user.id)
    assert "file_url" not in media
    [stored] = local_files(store)
    assert stored.relative_to(store).parts[:2] == ("images", str(t.doctor.user.id))
    download = await client.get(
        media["download_url"].removeprefix("/api/v1"), headers=t.doctor.headers
    )
    assert download.status_code == 200 and download.content == data
    assert download.headers["content-type"] == mime


async def test_document_upload_accepts_pdf_and_refuses_images_elsewhere(
    client, sessionmaker, settings, store
):
    t = await team(sessionmaker, settings)
    pdf = await post(client, t.patient, "document", PDF, "passport.pdf")
    assert pdf.status_code == 201 and pdf.json()["data"]["file_type"] == "application/pdf"
    as_image = await post(client, t.patient, "image", PDF, "photo.png", "image/png")
    assert as_image.status_code == 400
    assert as_image.json()["error"]["code"] == "FILE_TYPE_NOT_ALLOWED"
    assert len(local_files(store)) == 1


async def test_medical_record_upload_is_the_same_as_post_medical_records(
    client, sessionmaker, settings, store
):
    t = await team(sessionmaker, settings)
    created = await post(
        client, t.patient, "medical-record", PDF, "discharge.pdf", record_type="discharge_summary"
    )
    assert created.status_code == 201, created.text
    record = created.json()["data"]
    assert record["record_type"] == "discharge_summary"
    assert record["title"] == "discharge.pdf"
    assert record["patient_id"] == str(t.patient.patient_id)
    assert (await counts(sessionmaker)) == (1, 1)
    listed = await client.get("/media", headers=t.patient.headers)
    [media] = listed.json()["data"]
    assert media["entity_type"] == "medical_record" and media["entity_id"] == record["id"]
    # A record's file is removed with its record, not on its own.
    refused = await client.delete(f"/media/{media['id']}", headers=t.patient.headers)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "MEDIA_ATTACHED"
    assert len(local_files(store)) == 1


ATTACKS = [
    ("script renamed .pdf", SCRIPT, "report.pdf", 400, "FILE_TYPE_NOT_ALLOWED"),
    ("html renamed .png", b"<svg onload=alert(1)>", "x.png", 400, "FILE_TYPE_NOT_ALLOWED"),
    ("oversized", PDF + b"\0" * LIMIT, "big.pdf", 400, "FILE_TOO_LARGE"),
    ("empty", b"", "empty.pdf", 400, "FILE_EMPTY"),
]


@pytest.mark.parametrize("path", ["document", "medical-record"])
@pytest.mark.parametrize(("label", "data", "name", "status", "code"), ATTACKS)
async def test_refused_uploads_store_nothing(
    client, sessionmaker, settings, store, path, label, data, name, status, code
):
    t = await team(sessionmaker, settings)
    form = {"record_type": "other"} if path == "medical-record" else {}
    refused = await post(client, t.patient, path, data, name, **form)
    assert refused.status_code == status, (label, refused.text)
    assert refused.json()["error"]["code"] == code
    assert refused.json()["success"] is False
    assert local_files(store) == []
    assert (await counts(sessionmaker)) == (0, 0)


@pytest.mark.parametrize("path", ["document", "medical-record"])
async def test_traversal_file_name_is_only_a_label(client, sessionmaker, settings, store, path):
    t = await team(sessionmaker, settings)
    form = {"record_type": "other"} if path == "medical-record" else {}
    created = await post(client, t.patient, path, PDF, "../../etc/passwd", **form)
    assert created.status_code == 201, created.text
    [stored] = local_files(store)
    assert stored.is_relative_to(store)
    assert "passwd" not in str(stored) and "etc" not in stored.relative_to(store).parts
    assert not (store.parent / "etc").exists()
    async with sessionmaker() as db:
        media = await db.scalar(select(Media))
    assert media is not None and media.file_name == "passwd"
    assert "passwd" not in (media.file_url or "")


async def test_oversized_body_is_refused_before_the_route(client, sessionmaker, settings, store):
    """Beyond the API's body limit the middleware answers 413 and nothing is read or kept."""
    t = await team(sessionmaker, settings)
    huge = PDF + b"\0" * (settings.max_body_bytes + 1)
    refused = await post(client, t.patient, "document", huge, "huge.pdf")
    assert refused.status_code == 413
    assert local_files(store) == []
    assert (await counts(sessionmaker)) == (0, 0)


async def test_anonymous_cannot_upload_or_list(client, sessionmaker, settings, store):
    assert (await post(client, None, "image", PNG, "a.png")).status_code == 401
    assert (await post(client, None, "document", PDF, "a.pdf")).status_code == 401
    assert (await client.get("/media")).status_code == 401
    assert local_files(store) == []


async def test_upload_rejects_unknown_entity_types(client, sessionmaker, settings, store):
    t = await team(sessionmaker, settings)
    refused = await post(client, t.patient, "document", PDF, "a.pdf", entity_type="medical_record")
    assert refused.status_code == 422
    assert local_files(store) == []


async def test_media_is_visible_to_its_uploader_and_admins_only(
    client, sessionmaker, settings, store
):
    t = await team(sessionmaker, settings)
    media = (await post(client, t.patient, "document", PDF, "visa.pdf")).json()["data"]
    url = f"/media/{media['id']}"
    assert (await client.get(url, headers=t.patient.headers)).json()["data"]["id"] == media["id"]
    assert (await client.get(url, headers=t.admin.headers)).status_code == 200
    for outsider in ("other_patient", "doctor", "coordinator", "hospital_admin"):
        who = t[outsider]
        assert (await client.get(url, headers=who.headers)).status_code == 404
        assert (await client.get(url + "/download", headers=who.headers)).status_code == 404
        assert (await client.get("/media", headers=who.headers)).json()["data"] == []
        assert (await client.delete(url, headers=who.headers)).status_code == 404
    admin_list = await client.get("/media", headers=t.admin.headers)
    assert admin_list.json()["meta"]["total"] == 1
    assert len(local_files(store)) == 1


async def test_owner_deletes_media_and_its_object(client, sessionmaker, settings, store):
    t = await team(sessionmaker, settings)
    mine = (await post(client, t.patient, "document", PDF, "visa.pdf")).json()["data"]
    theirs = (await post(client, t.doctor, "document", PDF, "cv.pdf")).json()["data"]
    assert len(local_files(store)) == 2
    deleted = await client.delete(f"/media/{mine['id']}", headers=t.patient.headers)
    assert deleted.status_code == 200
    assert len(local_files(store)) == 1
    by_admin = await client.delete(f"/media/{theirs['id']}", headers=t.admin.headers)
    assert by_admin.status_code == 200
    assert local_files(store) == []
    assert (await counts(sessionmaker)) == (0, 0)


async def test_uploads_go_to_s3_when_configured(
    app, client, sessionmaker, settings, moto_endpoint, s3_bucket
):
    app.state.settings = s3_settings(settings, moto_endpoint, s3_bucket)
    app.state.adapters = build_adapters(app.state.settings, app.state.sessionmaker)
    t = await team(sessionmaker, settings)
    media = (await post(client, t.patient, "image", PNG, "../../etc/passwd")).json()["data"]
    [key] = bucket_keys(moto_endpoint, s3_bucket)
    assert key.startswith(f"images/{t.patient.user.id}/") and "passwd" not in key
    for label, data, name, _, code in ATTACKS:
        refused = await post(client, t.patient, "image", data, name)
        assert refused.json()["error"]["code"] == code, label
    assert bucket_keys(moto_endpoint, s3_bucket) == [key]
    assert (await counts(sessionmaker)) == (0, 1)
    download = await client.get(f"/media/{media['id']}/download", headers=t.patient.headers)
    assert download.content == PNG
    await client.delete(f"/media/{media['id']}", headers=t.patient.headers)
    assert bucket_keys(moto_endpoint, s3_bucket) == []
