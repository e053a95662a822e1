"""The prescription of a teleconsultation over HTTP, with the real stack (PostgreSQL, the Temporal
dev server, the production worker, WeasyPrint, the local file store, the outbox): the doctor
writes it during the consultation, the appointment moves to prescription_provided, the patient
gets the PDF by e-mail in their language, and the PDF is served to the patient's care team only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.worker import Worker

from activities.documents import package_url_fetcher
from activities.prescriptions import PRESCRIPTION_TEMPLATES, prescription_labels
from activities.providers.outbox import StoredMessage, read_outbox, read_outbox_attachment
from domain.access import Role
from domain.models.appointments import Appointment
from domain.models.care import Prescription
from domain.models.users import User
from runtime.settings import Settings
from tests.builders.care_builders import Person, add_booking, add_hospital, person
from tests.builders.catalog_builders import affiliate
from tests.builders.helpers import eventually
from tests.builders.pdf_glyphs import contains_run, pdf_text, shaped, shown_glyphs, x_of

STYLESHEET = PRESCRIPTION_TEMPLATES / "prescription.css"
MEDICATIONS = [
    {
        "name": "Paracetamol",
        "dosage": "500mg",
        "frequency": "Twice daily",
        "duration": "7 days",
        "notes": "With water",
    },
    {
        "name": "Amoxicillin",
        "dosage": "250mg",
        "frequency": "Three times daily",
        "duration": "5 days",
    },
]
# The doctor's own words, in the patient's language: printed as written.
INSTRUCTIONS = {
    "en": "Take after meals.",
    "ar": "تؤخذ بعد الأكل",
    "hi": "भोजन के बाद लें",
}
NAMES = {
    "en": ("Sarah", "O'Connor"),
    "ar": ("أمينة", "الحسيني"),
    "hi": ("प्रिया", "शर्मा"),
}
# The labels each PDF must show (the title, the medication table's columns, the instructions'
# heading, the validity).
LABELS = ("title", "medication", "dosage", "frequency", "duration", "instructions", "valid_until")


@pytest.fixture
def settings(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    return make_settings(storage_dir=str(tmp_path / "files"))


@pytest.fixture
def client(client: httpx.AsyncClient, worker: Worker) -> httpx.AsyncClient:
    return client


@dataclass
class Cast:
    patient: Person
    doctor: Person
    coordinator: Person
    admin: Person
    hospital_admin: Person
    other_patient: Person
    stranger_doctor: Person
    other_coordinator: Person

    def __getitem__(self, name: str) -> Person:
        found: Person = getattr(self, name)
        return found


async def make_cast(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, locale: str
) -> Cast:
    """The patient (in their language), their doctor (at a hospital whose admin sees the
    appointment), the coordinator of their booking, an admin; and people outside the care."""
    cast = Cast(
        patient=await person(sessionmaker, settings, Role.PATIENT, locale=locale),
        doctor=await person(sessionmaker, settings, Role.DOCTOR),
        coordinator=await person(sessionmaker, settings, Role.COORDINATOR),
        admin=await person(sessionmaker, settings, Role.ADMIN),
        hospital_admin=await person(sessionmaker, settings, Role.HOSPITAL_ADMIN),
        other_patient=await person(sessionmaker, settings, Role.PATIENT),
        stranger_doctor=await person(sessionmaker, settings, Role.DOCTOR),
        other_coordinator=await person(sessionmaker, settings, Role.COORDINATOR),
    )
    first, last = NAMES[locale]
    async with sessionmaker() as db, db.begin():
        await db.execute(
            update(User)
            .where(User.id == cast.patient.user.id)
            .values(first_name=first, last_name=last)
        )
        await db.execute(
            update(User)
            .where(User.id == cast.doctor.user.id)
            .values(first_name="Rahul", last_name="Mehta")
        )
    hospital = await add_hospital(sessionmaker, cast.hospital_admin.user)
    async with sessionmaker() as db:
        from domain.models.catalog import Doctor

        doctor = await db.get(Doctor, cast.doctor.doctor_id)
    await affiliate(sessionmaker, hospital, doctor)
    assert cast.patient.patient_id is not None
    await add_booking(
        sessionmaker,
        cast.patient.patient_id,
        coordinator_id=cast.coordinator.user.id,
        hospital_id=hospital.id,
    )
    return cast


async def appointment_in(client: httpx.AsyncClient, cast: Cast, status: str) -> str:
    """A teleconsultation starting in a few minutes (staff book it, outside the doctor's hours),
    moved by the doctor to `status` (appointment_confirmed or consultation_in_progress)."""
    created = await client.post(
        "/appointments",
        json={
            "doctor_id": str(cast.doctor.doctor_id),
            "patient_id": str(cast.patient.patient_id),
            "scheduled_date": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
            "duration_minutes": 30,
            "override": True,
        },
        headers=cast.admin.headers,
    )
    assert created.status_code == 201, created.text
    appointment_id: str = created.json()["data"]["id"]
    steps = ["appointment_confirmed"]
    if status == "consultation_in_progress":
        steps.append(status)
    for step in steps:
        moved = await client.patch(
            f"/appointments/{appointment_id}/status",
            json={"status": step},
            headers=cast.doctor.headers,
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["data"]["status"] in (step, "awaiting_consultation")
        if step == "appointment_confirmed":
            # Starting in minutes, it is near at once: the workflow's own move follows the
            # doctor's; waited for, so that what the test reads next stays put.
            async def near() -> bool:
                read = await client.get(
                    f"/appointments/{appointment_id}", headers=cast.admin.headers
                )
                return bool(read.json()["data"]["status"] == "awaiting_consultation")

            await eventually(near, within=30)
    return appointment_id


def prescription_body(locale: str, **extra: Any) -> dict[str, Any]:
    return {
        "medications": MEDICATIONS,
        "instructions": INSTRUCTIONS[locale],
        "valid_until": "2030-06-30",
        **extra,
    }


async def prescription_mail(
    sessionmaker: async_sessionmaker[AsyncSession], recipient: str
) -> StoredMessage:
    async def probe() -> list[StoredMessage] | None:
        mails = [
            m
            for m in await read_outbox(sessionmaker, recipient=recipient)
            if "prescription:" in m.dedupe_key and m.channel == "email"
        ]
        return mails or None

    [mail] = await eventually(probe, 60)
    return mail


async def stored_prescriptions(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(Prescription)) or 0)


async def status_of(sessionmaker: async_sessionmaker[AsyncSession], appointment_id: str) -> str:
    async with sessionmaker() as db:
        row = await db.get(Appointment, uuid.UUID(appointment_id))
    assert row is not None
    return row.status


@pytest.mark.parametrize("locale", ["en", "ar", "hi"])
async def test_doctor_prescribes_and_the_patient_gets_the_pdf_in_their_language(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    locale: str,
) -> None:
    cast = await make_cast(sessionmaker, settings, locale)
    appointment_id = await appointment_in(client, cast, "consultation_in_progress")

    written = await client.post(
        f"/appointments/{appointment_id}/prescription",
        json=prescription_body(locale),
        headers=cast.doctor.headers,
    )

    assert written.status_code == 201, written.text
    data = written.json()["data"]
    assert data["appointment"]["status"] == "prescription_provided"
    prescription = data["prescription"]
    assert prescription["appointment_id"] == appointment_id
    assert prescription["patient_id"] == str(cast.patient.patient_id)
    assert prescription["doctor_id"] == str(cast.doctor.doctor_id)
    assert prescription["medications"] == MEDICATIONS
    assert prescription["instructions"] == INSTRUCTIONS[locale]
    assert prescription["valid_until"] == "2030-06-30"
    assert await status_of(sessionmaker, appointment_id) == "prescription_provided"

    # The patient's e-mail, in their language, with the PDF attached.
    mail = await prescription_mail(sessionmaker, cast.patient.user.email)
    number = data["appointment"]["appointment_number"]
    subject = {
        "en": f"Your prescription for appointment {number}",
        "ar": f"وصفتك الطبية للموعد {number}",
        "hi": f"अपॉइंटमेंट {number} का आपका पर्चा",
    }[locale]
    assert mail.subject == subject
    assert f"/api/v1/prescriptions/{prescription['id']}/pdf" in mail.body_text
    [attachment] = mail.attachments
    assert attachment.filename == f"prescription-{number}.pdf"
    assert attachment.content_type == "application/pdf"
    attached = await read_outbox_attachment(sessionmaker, attachment.id)
    # Once mailed, the prescription names where the patient downloads it.
    read = await client.get(f"/prescriptions/{prescription['id']}", headers=cast.patient.headers)
    assert read.json()["data"]["pdf_url"].endswith(
        f"/api/v1/prescriptions/{prescription['id']}/pdf"
    )

    # The same PDF, downloaded by the patient.
    downloaded = await client.get(
        f"/prescriptions/{prescription['id']}/pdf", headers=cast.patient.headers
    )
    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.headers["content-type"] == "application/pdf"
    assert downloaded.content == attached
    pdf = downloaded.content
    assert pdf.startswith(b"%PDF")

    text = pdf_text(pdf)
    labels = prescription_labels(locale)
    for medication in MEDICATIONS:
        for field in ("name", "dosage", "frequency", "duration"):
            assert medication[field] in text, (field, medication[field])
    assert "With water" in text
    assert number in text and "2030-06-30" in text
    fonts = {font for font, _ in shown_glyphs(pdf)}
    assert all(font.startswith("Medivoy-") for font in fonts), fonts
    if locale == "en":
        # Extracted exactly as printed, one table row a line.
        assert "1 Paracetamol" in text
        assert "500mg Twice daily 7 days" in text
        assert "2 Amoxicillin 250mg Three times daily 5 days" in text
        assert "Medication Dosage Frequency Duration" in text
        for key in LABELS:
            assert labels[key] in text, key
        assert "Sarah O'Connor" in text and "Rahul Mehta" in text
        assert INSTRUCTIONS["en"] in text
    if locale == "ar":
        # Each Arabic run is extracted exactly, in reading order; pypdf strings the runs of a
        # right-to-left line together from the left, so a whole line is not compared.
        for key in LABELS:
            assert labels[key] in text, key
        assert "أمينة الحسيني" in text
        assert INSTRUCTIONS["ar"] in text
        assert {"Medivoy-Arabic", "Medivoy-Arabic-Bold"} <= fonts
        # Right to left, as a reader sees it: the first column (the patient) is on the right
        # of the page, the first column of the English layout on the left.
        assert x_of(pdf, labels["patient"]) > 0.6
        assert x_of(pdf, "Medivoy") > 0.6
    if locale == "hi":
        # Devanagari cannot be read back exactly from any PDF's ToUnicode map (see
        # tests/builders/pdf_glyphs.py), so the labels, the name and the doctor's Hindi
        # instructions are found as the glyphs a reader sees, shaped with our fonts.
        assert {"Medivoy-Devanagari", "Medivoy-Devanagari-Bold"} <= fonts
        drawn = shown_glyphs(pdf)
        fetcher = package_url_fetcher()
        for key in LABELS:
            run = shaped(labels[key], "hi", stylesheet=STYLESHEET, bold=True, fetcher=fetcher)
            assert contains_run(drawn, run), key
        for words in (INSTRUCTIONS["hi"], labels["signature"]):
            run = shaped(words, "hi", stylesheet=STYLESHEET, bold=False, fetcher=fetcher)
            assert contains_run(drawn, run), words
        # The check can fail: words the PDF does not hold are not found.
        absent = shaped("राहुल वर्मा", "hi", stylesheet=STYLESHEET, bold=True, fetcher=fetcher)
        assert not contains_run(drawn, absent)
        assert x_of(pdf, "Medivoy") < 0.2


async def test_the_pdf_is_served_to_the_care_team_only(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """As a medical record: the patient, the prescribing doctor, the coordinator of the
    patient's booking and admins read it; anyone else is told it does not exist (404)."""
    cast = await make_cast(sessionmaker, settings, "en")
    appointment_id = await appointment_in(client, cast, "consultation_in_progress")
    written = await client.post(
        f"/appointments/{appointment_id}/prescription",
        json=prescription_body("en"),
        headers=cast.doctor.headers,
    )
    assert written.status_code == 201, written.text
    url = f"/prescriptions/{written.json()['data']['prescription']['id']}/pdf"
    await prescription_mail(sessionmaker, cast.patient.user.email)

    answers = {}
    for who in (
        "patient",
        "doctor",
        "coordinator",
        "admin",
        "other_patient",
        "stranger_doctor",
        "other_coordinator",
        "hospital_admin",
    ):
        answers[who] = (await client.get(url, headers=cast[who].headers)).status_code
    assert answers == {
        "patient": 200,
        "doctor": 200,
        "coordinator": 200,
        "admin": 200,
        "other_patient": 404,
        "stranger_doctor": 404,
        "other_coordinator": 404,
        "hospital_admin": 404,
    }
    assert (await client.get(url)).status_code == 401
    refused = await client.get(url, headers=cast.other_patient.headers)
    assert refused.json()["success"] is False
    assert refused.json()["error"]["code"] == "PRESCRIPTION_NOT_FOUND"
    assert b"%PDF" not in refused.content

    # A prescription written outside an appointment's workflow (POST /prescriptions) is
    # rendered by the worker at its first download, and mailed to nobody.
    async with sessionmaker() as db, db.begin():
        row = Prescription(
            id=uuid.uuid4(),
            appointment_id=uuid.UUID(appointment_id),
            patient_id=cast.patient.patient_id,
            doctor_id=cast.doctor.doctor_id,
            medications=[{**MEDICATIONS[1], "name": "Ibuprofen"}],
        )
        db.add(row)
    stranger = await client.get(f"/prescriptions/{row.id}/pdf", headers=cast.other_patient.headers)
    assert stranger.status_code == 404

    async def rendered() -> bytes | None:
        answer = await client.get(f"/prescriptions/{row.id}/pdf", headers=cast.patient.headers)
        if answer.status_code == 503:
            # Still rendering past the request's deadline: asked again, it is not rendered twice.
            assert answer.json()["error"]["code"] == "PRESCRIPTION_PDF_PENDING"
            return None
        assert answer.status_code == 200, answer.text
        return answer.content

    pdf = await eventually(rendered, 60)
    assert "Ibuprofen" in pdf_text(pdf)
    mails = [
        m
        for m in await read_outbox(sessionmaker, recipient=cast.patient.user.email)
        if str(row.id) in m.dedupe_key
    ]
    assert mails == []


async def test_a_repeated_request_with_its_key_writes_and_mails_once(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    cast = await make_cast(sessionmaker, settings, "en")
    appointment_id = await appointment_in(client, cast, "consultation_in_progress")
    headers = {**cast.doctor.headers, "Idempotency-Key": "rx-1"}
    url = f"/appointments/{appointment_id}/prescription"

    first = await client.post(url, json=prescription_body("en"), headers=headers)
    again = await client.post(url, json=prescription_body("en"), headers=headers)

    assert first.status_code == 201, first.text
    assert again.status_code == 201, again.text
    first_id = first.json()["data"]["prescription"]["id"]
    assert again.json()["data"]["prescription"]["id"] == first_id
    assert await stored_prescriptions(sessionmaker) == 1
    await prescription_mail(sessionmaker, cast.patient.user.email)
    # Without the key, a second prescription is a move the appointment no longer allows.
    other = await client.post(url, json=prescription_body("en"), headers=cast.doctor.headers)
    assert other.status_code == 409
    assert await stored_prescriptions(sessionmaker) == 1


async def test_only_the_appointments_doctor_prescribes_during_the_consultation(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    cast = await make_cast(sessionmaker, settings, "en")
    appointment_id = await appointment_in(client, cast, "appointment_confirmed")
    url = f"/appointments/{appointment_id}/prescription"
    before = await status_of(sessionmaker, appointment_id)

    # Other roles: 403 before the body is even read; a doctor who is not this one's: 404.
    for who in ("patient", "coordinator", "admin", "hospital_admin"):
        refused = await client.post(url, json=prescription_body("en"), headers=cast[who].headers)
        assert refused.status_code == 403, (who, refused.text)
        assert refused.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    junk = await client.post(url, json={"medications": []}, headers=cast.patient.headers)
    assert junk.status_code == 403
    stranger = await client.post(
        url, json=prescription_body("en"), headers=cast.stranger_doctor.headers
    )
    assert stranger.status_code == 404

    # The doctor, before the consultation has started: 409 with where it may go.
    early = await client.post(url, json=prescription_body("en"), headers=cast.doctor.headers)
    assert early.status_code == 409, early.text
    error = early.json()["error"]
    assert error["code"] == "INVALID_TRANSITION"
    assert "consultation_in_progress" in error["details"]["allowed"]

    # Bad bodies: 422, with the field.
    past = (datetime.now(UTC).date() - timedelta(days=3)).isoformat()
    bad_bodies = [
        {"medications": []},
        {"medications": [{"name": "Paracetamol", "dosage": "500mg"}]},
        {"medications": [{**MEDICATIONS[0], "name": "  "}]},
        {"medications": MEDICATIONS, "valid_until": past},
        {"medications": MEDICATIONS, "surprise": True},
    ]
    for body in bad_bodies:
        invalid = await client.post(url, json=body, headers=cast.doctor.headers)
        assert invalid.status_code == 422, (body, invalid.text)
        assert invalid.json()["success"] is False

    # Nothing was written by any of them.
    assert await stored_prescriptions(sessionmaker) == 0
    assert await status_of(sessionmaker, appointment_id) == before
    assert not [
        m
        for m in await read_outbox(sessionmaker, recipient=cast.patient.user.email)
        if "prescription:" in m.dedupe_key
    ]


async def test_an_issued_prescription_keeps_its_medications_and_only_becomes_dispensed(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    cast = await make_cast(sessionmaker, settings, "en")
    appointment_id = await appointment_in(client, cast, "consultation_in_progress")
    made = await client.post(
        f"/appointments/{appointment_id}/prescription",
        json=prescription_body("en"),
        headers=cast.doctor.headers,
    )
    assert made.status_code == 201, made.text
    prescription_id = made.json()["data"]["prescription"]["id"]
    await prescription_mail(sessionmaker, cast.patient.user.email)
    url = f"/prescriptions/{prescription_id}"
    issued = await client.get(f"{url}/pdf", headers=cast.patient.headers)
    assert issued.status_code == 200

    for change in (
        {"medications": [{**MEDICATIONS[0], "dosage": "1000mg"}]},
        {"instructions": "Take before meals."},
        {"valid_until": "2099-01-01", "is_dispensed": True},
    ):
        refused = await client.patch(url, json=change, headers=cast.doctor.headers)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "PRESCRIPTION_ISSUED"
    async with sessionmaker() as db:
        row = await db.get(Prescription, uuid.UUID(prescription_id))
    assert row is not None and row.medications == MEDICATIONS and not row.is_dispensed

    # The same words again are no change; being dispensed is no change to what it says.
    same = await client.patch(
        url,
        json={"instructions": row.instructions, "is_dispensed": True},
        headers=cast.doctor.headers,
    )
    assert same.status_code == 200, same.text
    assert same.json()["data"]["is_dispensed"] is True
    again = await client.get(f"{url}/pdf", headers=cast.patient.headers)
    assert again.content == issued.content
