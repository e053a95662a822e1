"""Medical records over HTTP: upload (multipart), who sees which record, metadata changes,
download and deletion, with the file kept in the store exactly as long as its record."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from activities.providers.wiring import build_adapters
from api.services.care import bookings_awaiting_records
from domain.models.care import MedicalRecord
from domain.models.content import Media
from tests.builders.care_builders import Team, add_booking, team
from tests.builders.upload_samples import DICOM, PDF, SCRIPT, bucket_keys, local_files, s3_settings

pytest_plugins = ["tests.fixtures.storage_fixtures"]


@pytest.fixture
def settings(settings, tmp_path):
    return settings.model_copy(update={"data_dir": tmp_path, "max_upload_bytes": 64 * 1024})


@pytest.fixture
def store(tmp_path) -> Path:
    return tmp_path / "files"


async def upload(client, who, data=PDF, name="chest-xray.pdf", **fields):
    form = {"record_type": "xray", "title": "Chest X-Ray", **fields}
    return await client.post(
        "/medical-records",
        headers=who.headers,
        data=form,
        files={"file": (name, data, "application/pdf")},
    )


async def counts(sessionmaker) -> tuple[int, int]:
    async with sessionmaker() as db:
        records = await db.scalar(select(func.count()).select_from(MedicalRecord))
        media = await db.scalar(select(func.count()).select_from(Media))
    return int(records or 0), int(media or 0)


def path_of(record: dict) -> str:
    return record["download_url"].removeprefix("/api/v1")


async def test_patient_uploads_own_record_and_downloads_it(client, sessionmaker, settings, store):
    t: Team = await team(sessionmaker, settings)
    created = await upload(client, t.patient, description="Routine", record_date="2025-11-01")
    assert created.status_code == 201, created.text
    record = created.json()["data"]
    assert record["patient_id"] == str(t.patient.patient_id)
    assert record["file_type"] == "application/pdf"
    assert record["file_size"] == len(PDF)
    assert record["record_date"] == "2025-11-01"
    assert record["is_shared_with_doctors"] is True
    assert "file_url" not in record
    stored = local_files(store)
    assert len(stored) == 1
    assert stored[0].relative_to(store).parts[:2] == ("medical-records", str(t.patient.patient_id))
    assert "chest" not in str(stored[0])
    download = await client.get(path_of(record), headers=t.patient.headers)
    assert download.status_code == 200
    assert download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"].startswith(
        'attachment; filename="chest-xray.pdf"'
    )
    assert download.headers["cache-control"] == "private, no-store"
    assert (await counts(sessionmaker)) == (1, 1)


async def test_patient_cannot_upload_for_another_patient(client, sessionmaker, settings, store):
    t = await team(sessionmaker, settings)
    refused = await upload(client, t.patient, patient_id=str(t.other_patient.patient_id))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "FIELD_NOT_ALLOWED"
    assert local_files(store) == []
    assert (await counts(sessionmaker)) == (0, 0)


@pytest.mark.parametrize(
    ("uploader", "status"),
    [
        ("doctor", 201),
        ("stranger_doctor", 404),
        ("coordinator", 201),
        ("other_coordinator", 404),
        ("hospital_admin", 403),
        ("admin", 201),
    ],
)
async def test_who_may_upload_for_a_patient(client, sessionmaker, settings, uploader, status):
    t = await team(sessionmaker, settings)
    response = await upload(client, t[uploader], patient_id=str(t.patient.patient_id))
    assert response.status_code == status, response.text
    if status == 201:
        assert response.json()["data"]["uploaded_by_user_id"] == str(t[uploader].user.id)


async def test_staff_must_name_the_patient(client, sessionmaker, settings):
    t = await team(sessionmaker, settings)
    response = await upload(client, t.coordinator)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "PATIENT_ID_REQUIRED"


@pytest.mark.parametrize(
    ("viewer", "shared", "sees"),
    [
        ("patient", True, True),
        ("other_patient", True, False),
        ("doctor", True, True),
        ("doctor", False, False),
        ("stranger_doctor", True, False),
        ("coordinator", False, True),
        ("other_coordinator", True, False),
        ("hospital_admin", True, False),
        ("admin", False, True),
    ],
)
async def test_access_matrix_for_reading_a_record(
    client, sessionmaker, settings, viewer, shared, sees
):
    t = await team(sessionmaker, settings)
    created = await upload(client, t.patient, is_shared_with_doctors=str(shared).lower())
    record = created.json()["data"]
    assert record["is_shared_with_doctors"] is shared
    who = t[viewer]
    one = await client.get(f"/medical-records/{record['id']}", headers=who.headers)
    listed = await client.get("/medical-records", headers=who.headers)
    download = await client.get(path_of(record), headers=who.headers)
    of_patient = await client.get(
        f"/patients/{t.patient.patient_id}/medical-records", headers=who.headers
    )
    if sees:
        assert one.status_code == 200 and one.json()["data"]["id"] == record["id"]
        assert [r["id"] for r in listed.json()["data"]] == [record["id"]]
        assert download.status_code == 200 and download.content == PDF
        assert [r["id"] for r in of_patient.json()["data"]] == [record["id"]]
    else:
        assert one.status_code == 404
        assert one.json()["error"]["code"] == "MEDICAL_RECORD_NOT_FOUND"
        assert "Chest" not in one.text
        assert listed.json()["data"] == [] and listed.json()["meta"]["total"] == 0
        assert download.status_code == 404 and download.content != PDF
        assert of_patient.status_code in (200, 404)
        if of_patient.status_code == 200:
            assert of_patient.json()["data"] == []


async def test_anonymous_gets_nothing(client, sessionmaker, settings):
    t = await team(sessionmaker, settings)
    record = (await upload(client, t.patient)).json()["data"]
    assert (await client.get("/medical-records")).status_code == 401
    assert (await client.get(f"/medical-records/{record['id']}")).status_code == 401
    assert (await client.get(path_of(record))).status_code == 401
    anonymous = await client.post(
        "/medical-records",
        data={"record_type": "xray"},
        files={"file": ("a.pdf", PDF, "application/pdf")},
    )
    assert anonymous.status_code == 401


async def test_filters_by_type_and_dates(client, sessionmaker, settings):
    t = await team(sessionmaker, settings)
    await upload(client, t.patient, record_date="2025-01-10")
    await upload(
        client, t.patient, data=DICOM, name="mri.dcm", record_type="mri", record_date="2025-06-01"
    )
    headers = t.patient.headers
    mri = await client.get("/medical-records", params={"record_type": "mri"}, headers=headers)
    assert [r["file_type"] for r in mri.json()["data"]] == ["application/dicom"]
    later = await client.get(
        "/medical-records", params={"date_from": "2025-03-01"}, headers=headers
    )
    assert [r["record_type"] for r in later.json()["data"]] == ["mri"]
    earlier = await client.get(
        "/medical-records", params={"date_to": "2025-03-01"}, headers=headers
    )
    assert [r["record_type"] for r in earlier.json()["data"]] == ["xray"]
    found = await client.get("/medical-records", params={"search": "chest"}, headers=headers)
    assert found.json()["meta"]["total"] == 2


async def test_only_the_patient_changes_the_sharing_flag(client, sessionmaker, settings):
    t = await team(sessionmaker, settings)
    record = (await upload(client, t.patient)).json()["data"]
    url = f"/medical-records/{record['id']}"
    hidden = await client.patch(
        url, json={"is_shared_with_doctors": False}, headers=t.patient.headers
    )
    assert hidden.status_code == 200 and hidden.json()["data"]["is_shared_with_doctors"] is False
    assert (await client.get(url, headers=t.doctor.headers)).status_code == 404
    refused = await client.patch(
        url, json={"is_shared_with_doctors": True}, headers=t.coordinator.headers
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "FIELD_NOT_ALLOWED"
    retitled = await client.patch(
        url, json={"title": "Chest PA view"}, headers=t.coordinator.headers
    )
    assert retitled.status_code == 200 and retitled.json()["data"]["title"] == "Chest PA view"


async def test_doctor_changes_only_records_they_uploaded(client, sessionmaker, settings):
    t = await team(sessionmaker, settings)
    patients = (await upload(client, t.patient)).json()["data"]
    doctors = (
        await upload(
            client, t.doctor, patient_id=str(t.patient.patient_id), record_type="lab_report"
        )
    ).json()["data"]
    refused = await client.patch(
        f"/medical-records/{patients['id']}", json={"title": "x"}, headers=t.doctor.headers
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "NOT_UPLOADER"
    changed = await client.patch(
        f"/medical-records/{doctors['id']}", json={"title": "CBC"}, headers=t.doctor.headers
    )
    assert changed.status_code == 200
    gone = await client.delete(f"/medical-records/{patients['id']}", headers=t.doctor.headers)
    assert gone.status_code == 403


async def test_record_links_only_to_the_patients_own_appointment(client, sessionmaker, settings):
    t = await team(sessionmaker, settings)
    ok = await upload(client, t.patient, appointment_id=str(t.appointment.id))
    assert ok.status_code == 201 and ok.json()["data"]["appointment_id"] == str(t.appointment.id)
    other = await team(sessionmaker, settings)
    refused = await upload(client, t.patient, appointment_id=str(other.appointment.id))
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "APPOINTMENT_NOT_OF_PATIENT"
    relinked = await client.patch(
        f"/medical-records/{ok.json()['data']['id']}",
        json={"appointment_id": str(other.appointment.id)},
        headers=t.patient.headers,
    )
    assert relinked.status_code == 400


async def test_deleting_a_record_removes_its_file(client, sessionmaker, settings, store):
    t = await team(sessionmaker, settings)
    record = (await upload(client, t.patient)).json()["data"]
    assert len(local_files(store)) == 1
    refused = await client.delete(f"/medical-records/{record['id']}", headers=t.coordinator.headers)
    assert refused.status_code == 403
    stranger = await client.delete(
        f"/medical-records/{record['id']}", headers=t.other_patient.headers
    )
    assert stranger.status_code == 404
    deleted = await client.delete(f"/medical-records/{record['id']}", headers=t.patient.headers)
    assert deleted.status_code == 200
    assert local_files(store) == []
    assert (await counts(sessionmaker)) == (0, 0)
    assert (await client.get(path_of(record), headers=t.patient.headers)).status_code == 404


async def test_refused_file_leaves_nothing(client, sessionmaker, settings, store):
    t = await team(sessionmaker, settings)
    refused = await upload(client, t.patient, data=SCRIPT, name="report.pdf")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "FILE_TYPE_NOT_ALLOWED"
    assert local_files(store) == []
    assert (await counts(sessionmaker)) == (0, 0)


async def test_upload_finds_bookings_awaiting_medical_details(client, sessionmaker, settings):
    """The booking workflow is told (best effort); the upload never fails because of it."""
    t = await team(sessionmaker, settings)
    waiting = await add_booking(
        sessionmaker, t.patient.patient_id, status="awaiting_medical_details"
    )
    created = await upload(client, t.patient)
    assert created.status_code == 201
    async with sessionmaker() as db:
        assert await bookings_awaiting_records(db, t.patient.patient_id) == [waiting.id]


async def test_records_live_in_s3_when_configured(
    app, client, sessionmaker, settings, moto_endpoint, s3_bucket
):
    app.state.settings = s3_settings(settings, moto_endpoint, s3_bucket)
    app.state.adapters = build_adapters(app.state.settings, app.state.sessionmaker)
    t = await team(sessionmaker, settings)
    record = (await upload(client, t.patient)).json()["data"]
    keys = bucket_keys(moto_endpoint, s3_bucket)
    assert len(keys) == 1 and keys[0].startswith(f"medical-records/{t.patient.patient_id}/")
    download = await client.get(path_of(record), headers=t.doctor.headers)
    assert download.status_code == 200 and download.content == PDF
    refused = await upload(client, t.patient, data=SCRIPT)
    assert refused.status_code == 400
    assert len(bucket_keys(moto_endpoint, s3_bucket)) == 1
    await client.delete(f"/medical-records/{record['id']}", headers=t.patient.headers)
    assert bucket_keys(moto_endpoint, s3_bucket) == []
