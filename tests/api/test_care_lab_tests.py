"""Lab tests over HTTP: ordered for a patient in the orderer's care with a readable number, seen
by the care team and the lab's hospital admin, results uploaded through the file store."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from domain.models.content import Media
from tests.builders.care_builders import add_lab, team
from tests.builders.upload_samples import JPEG, PDF, SCRIPT, local_files

LIMIT = 64 * 1024


@pytest.fixture
def settings(settings, tmp_path):
    return settings.model_copy(update={"data_dir": tmp_path, "max_upload_bytes": LIMIT})


@pytest.fixture
def store(tmp_path) -> Path:
    return tmp_path / "files"


async def order(client, who, patient_id, **extra):
    body = {
        "patient_id": str(patient_id),
        "test_name": "Complete blood count",
        "test_type": "blood",
    }
    return await client.post("/lab-tests", json={**body, **extra}, headers=who.headers)


async def lab_team(sessionmaker, settings):
    t = await team(sessionmaker, settings)
    lab = await add_lab(sessionmaker, t.hospital.id)
    return t, lab


async def result(client, who, test_id, data=PDF, name="cbc.pdf"):
    return await client.post(
        f"/lab-tests/{test_id}/result",
        files={"file": (name, data, "application/pdf")},
        headers=who.headers,
    )


async def media_count(sessionmaker) -> int:
    async with sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(Media)) or 0)


async def test_doctor_orders_a_test_with_a_readable_number(client, sessionmaker, settings):
    t, lab = await lab_team(sessionmaker, settings)
    created = await order(client, t.doctor, t.patient.patient_id, lab_id=str(lab.id))
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert re.fullmatch(r"MV-LT-\d{4}-[0-9A-F]{8}", data["test_number"])
    assert data["doctor_id"] == str(t.doctor.doctor_id)
    assert data["status"] == "requested"
    assert data["result_download_url"] is None
    second = await order(client, t.doctor, t.patient.patient_id)
    assert second.json()["data"]["test_number"] != data["test_number"]


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("stranger_doctor", 404),
        ("other_coordinator", 404),
        ("coordinator", 201),
        ("admin", 201),
        ("patient", 403),
        ("hospital_admin", 403),
    ],
)
async def test_who_may_order(client, sessionmaker, settings, who, status):
    t, _ = await lab_team(sessionmaker, settings)
    response = await order(client, t[who], t.patient.patient_id)
    assert response.status_code == status, response.text


async def test_doctor_cannot_name_another_doctor(client, sessionmaker, settings):
    t, _ = await lab_team(sessionmaker, settings)
    refused = await order(
        client, t.doctor, t.patient.patient_id, doctor_id=str(t.stranger_doctor.doctor_id)
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "FIELD_NOT_ALLOWED"


@pytest.mark.parametrize(
    ("viewer", "sees"),
    [
        ("patient", True),
        ("other_patient", False),
        ("doctor", True),
        ("stranger_doctor", False),
        ("coordinator", True),
        ("other_coordinator", False),
        ("hospital_admin", True),  # the test is sent to their hospital's lab
        ("admin", True),
    ],
)
async def test_access_matrix(client, sessionmaker, settings, store, viewer, sees):
    t, lab = await lab_team(sessionmaker, settings)
    test = (await order(client, t.doctor, t.patient.patient_id, lab_id=str(lab.id))).json()["data"]
    assert (await result(client, t.doctor, test["id"])).status_code == 200
    who = t[viewer]
    one = await client.get(f"/lab-tests/{test['id']}", headers=who.headers)
    listed = await client.get("/lab-tests", headers=who.headers)
    download = await client.get(f"/lab-tests/{test['id']}/result", headers=who.headers)
    if sees:
        assert one.status_code == 200 and listed.json()["meta"]["total"] == 1
        assert download.status_code == 200 and download.content == PDF
    else:
        assert one.status_code == 404 and "blood" not in one.text
        assert listed.json()["data"] == []
        assert download.status_code == 404 and download.content != PDF
    assert (await client.get(f"/lab-tests/{test['id']}")).status_code == 401


async def test_lab_admin_uploads_result_and_replaces_it(client, sessionmaker, settings, store):
    t, lab = await lab_team(sessionmaker, settings)
    test = (await order(client, t.doctor, t.patient.patient_id, lab_id=str(lab.id))).json()["data"]
    first = await result(client, t.hospital_admin, test["id"])
    assert first.status_code == 200, first.text
    assert first.json()["data"]["status"] == "completed"
    assert first.json()["data"]["result_download_url"] == f"/api/v1/lab-tests/{test['id']}/result"
    [stored] = local_files(store)
    assert stored.relative_to(store).parts[:2] == ("lab-results", str(t.patient.patient_id))
    second = await result(client, t.hospital_admin, test["id"], data=JPEG, name="cbc.jpg")
    assert second.status_code == 200
    [replaced] = local_files(store)
    assert replaced != stored
    assert await media_count(sessionmaker) == 1
    download = await client.get(f"/lab-tests/{test['id']}/result", headers=t.patient.headers)
    assert download.content == JPEG and download.headers["content-type"] == "image/jpeg"
    assert 'filename="cbc.jpg"' in download.headers["content-disposition"]


async def test_bad_result_files_leave_nothing(client, sessionmaker, settings, store):
    t, _ = await lab_team(sessionmaker, settings)
    test = (await order(client, t.doctor, t.patient.patient_id)).json()["data"]
    for data, code in (
        (SCRIPT, "FILE_TYPE_NOT_ALLOWED"),
        (b"", "FILE_EMPTY"),
        (PDF + b"\0" * LIMIT, "FILE_TOO_LARGE"),
    ):
        refused = await result(client, t.doctor, test["id"], data=data)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == code
    assert local_files(store) == []
    assert await media_count(sessionmaker) == 0
    after = await client.get(f"/lab-tests/{test['id']}", headers=t.doctor.headers)
    assert after.json()["data"]["status"] == "requested"
    assert after.json()["data"]["result_download_url"] is None


async def test_who_changes_a_test(client, sessionmaker, settings):
    t, lab = await lab_team(sessionmaker, settings)
    test = (await order(client, t.doctor, t.patient.patient_id, lab_id=str(lab.id))).json()["data"]
    url = f"/lab-tests/{test['id']}"
    assert (
        await client.patch(url, json={"status": "scheduled"}, headers=t.patient.headers)
    ).status_code == 403
    lab_moves = await client.patch(
        url, json={"status": "sample_collected"}, headers=t.hospital_admin.headers
    )
    assert lab_moves.status_code == 200
    renamed = await client.patch(url, json={"test_name": "X"}, headers=t.hospital_admin.headers)
    assert renamed.status_code == 403 and renamed.json()["error"]["code"] == "FIELD_NOT_ALLOWED"
    bad = await client.patch(url, json={"status": "teleported"}, headers=t.doctor.headers)
    assert bad.status_code == 422
    assert (await result(client, t.patient, test["id"])).status_code == 403


async def test_delete_rules_and_result_removal(client, sessionmaker, settings, store):
    t, _ = await lab_team(sessionmaker, settings)
    fresh = (await order(client, t.doctor, t.patient.patient_id)).json()["data"]
    done = (await order(client, t.doctor, t.patient.patient_id)).json()["data"]
    await result(client, t.doctor, done["id"])
    assert (
        await client.delete(f"/lab-tests/{fresh['id']}", headers=t.coordinator.headers)
    ).status_code == 403
    assert (
        await client.delete(f"/lab-tests/{fresh['id']}", headers=t.doctor.headers)
    ).status_code == 200
    in_progress = await client.delete(f"/lab-tests/{done['id']}", headers=t.doctor.headers)
    assert in_progress.status_code == 409
    assert len(local_files(store)) == 1
    assert (
        await client.delete(f"/lab-tests/{done['id']}", headers=t.admin.headers)
    ).status_code == 200
    assert local_files(store) == []
    assert await media_count(sessionmaker) == 0


async def test_a_coordinator_never_uploads_a_lab_result(client, sessionmaker, settings, store):
    t, lab = await lab_team(sessionmaker, settings)
    created = await order(client, t.doctor, t.patient.patient_id, lab_id=str(lab.id))
    assert created.status_code == 201, created.text
    refused = await result(client, t.coordinator, created.json()["data"]["id"])
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    assert await media_count(sessionmaker) == 0
