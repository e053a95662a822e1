"""A booking in the coordinators' queue shows every coordinator its summary, never its patient's
medical data: medical records and lab results are seen (and changed) by a coordinator only once a
booking of that patient is assigned to them, and a coordinator never uploads a lab result."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from domain.models.bookings import Booking
from tests.builders.care_builders import add_lab, team
from tests.builders.upload_samples import PDF


@pytest.fixture
def settings(settings, tmp_path):
    return settings.model_copy(update={"data_dir": tmp_path, "max_upload_bytes": 64 * 1024})


@pytest.fixture
def store(tmp_path) -> Path:
    return tmp_path / "files"


async def assign(sessionmaker, booking_id, coordinator_id) -> None:
    async with sessionmaker() as db, db.begin():
        await db.execute(
            update(Booking).where(Booking.id == booking_id).values(coordinator_id=coordinator_id)
        )


async def test_a_queued_booking_shows_coordinators_no_medical_record_or_lab_result(
    client, sessionmaker, settings, store
):
    t = await team(sessionmaker, settings)
    lab = await add_lab(sessionmaker, t.hospital.id)
    await assign(sessionmaker, t.booking.id, None)  # back in the queue: nobody's yet
    record = await client.post(
        "/medical-records",
        headers=t.patient.headers,
        data={"record_type": "xray", "title": "Chest X-Ray"},
        files={"file": ("chest.pdf", PDF, "application/pdf")},
    )
    assert record.status_code == 201, record.text
    record_id = record.json()["data"]["id"]
    ordered = await client.post(
        "/lab-tests",
        json={
            "patient_id": str(t.patient.patient_id),
            "test_name": "Complete blood count",
            "test_type": "blood",
            "lab_id": str(lab.id),
        },
        headers=t.doctor.headers,
    )
    assert ordered.status_code == 201, ordered.text
    test_id = ordered.json()["data"]["id"]
    uploaded = await client.post(
        f"/lab-tests/{test_id}/result",
        files={"file": ("cbc.pdf", PDF, "application/pdf")},
        headers=t.doctor.headers,
    )
    assert uploaded.status_code == 200, uploaded.text

    async def refused_medical_data(who, *, queued: bool = True) -> None:
        booking = await client.get(f"/bookings/{t.booking.id}", headers=who.headers)
        if queued:  # the booking itself is in their queue, as a summary
            assert booking.status_code == 200, booking.text
            assert booking.json()["data"]["medical_details"] is None
        else:  # someone else's now
            assert booking.status_code == 404, booking.text
        for path in (f"/medical-records/{record_id}", f"/lab-tests/{test_id}"):
            one = await client.get(path, headers=who.headers)
            assert one.status_code == 404, (path, one.text)
            assert "Chest" not in one.text and "blood count" not in one.text
        for path in ("/medical-records", "/lab-tests"):
            listed = await client.get(path, headers=who.headers)
            assert listed.json()["data"] == [], path
        of_patient = await client.get(
            f"/patients/{t.patient.patient_id}/medical-records", headers=who.headers
        )
        assert of_patient.status_code in (200, 404)
        if of_patient.status_code == 200:
            assert of_patient.json()["data"] == []
        result = await client.get(f"/lab-tests/{test_id}/result", headers=who.headers)
        assert result.status_code == 404 and result.content != PDF
        changed = await client.patch(
            f"/medical-records/{record_id}", json={"title": "Edited"}, headers=who.headers
        )
        assert changed.status_code == 404, changed.text
        moved = await client.patch(
            f"/lab-tests/{test_id}", json={"status": "cancelled"}, headers=who.headers
        )
        assert moved.status_code in (403, 404), moved.text
        replaced = await client.post(
            f"/lab-tests/{test_id}/result",
            files={"file": ("fake.pdf", PDF, "application/pdf")},
            headers=who.headers,
        )
        assert replaced.status_code in (403, 404), replaced.text

    for who in (t.coordinator, t.other_coordinator):
        await refused_medical_data(who)
    kept = await client.get(f"/medical-records/{record_id}", headers=t.patient.headers)
    assert kept.json()["data"]["title"] == "Chest X-Ray"

    # Assigned to one of them: that coordinator sees the record and the result (the care team),
    # the other still nothing; neither uploads a lab result.
    await assign(sessionmaker, t.booking.id, t.coordinator.user.id)
    seen = await client.get(f"/medical-records/{record_id}", headers=t.coordinator.headers)
    assert seen.status_code == 200 and seen.json()["data"]["title"] == "Chest X-Ray"
    result = await client.get(f"/lab-tests/{test_id}/result", headers=t.coordinator.headers)
    assert result.status_code == 200 and result.content == PDF
    booking = await client.get(f"/bookings/{t.booking.id}", headers=t.coordinator.headers)
    assert booking.status_code == 200
    await refused_medical_data(t.other_coordinator, queued=False)
    refused = await client.post(
        f"/lab-tests/{test_id}/result",
        files={"file": ("fake.pdf", PDF, "application/pdf")},
        headers=t.coordinator.headers,
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
