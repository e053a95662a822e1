"""The prescription PDF without the rest of the stack: every language has every label, Spanish
and French read back with their own words, only the fonts we ship are used, the doctor's words
are text (never markup), and the render activity stores the PDF once."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities.prescriptions import (
    LABELS,
    PrescribedMedication,
    PrescriptionActivities,
    PrescriptionDocument,
    prescription_labels,
    prescription_pdf_key,
    render_prescription_html,
    render_prescription_pdf_bytes,
)
from activities.providers.storage import LocalStorage
from tests.builders.pdf_glyphs import pdf_text, shown_glyphs


def document(locale: str, **changes: object) -> PrescriptionDocument:
    return PrescriptionDocument(
        prescription_id=uuid.uuid4(),
        appointment_number="MV-AP-2026-0000000000AB",
        locale=locale,
        issued_on=date(2026, 12, 3),
        patient_name="Lucía Fernández",
        doctor_name="Rahul Mehta",
        doctor_specialty="Cardiology",
        doctor_license="MCI-12345",
        medications=[
            PrescribedMedication(
                name="Paracetamol", dosage="500mg", frequency="Twice daily", duration="7 days"
            )
        ],
        instructions="Take after meals.",
        valid_until=date(2026, 12, 31),
    ).model_copy(update=changes)


def test_every_language_has_every_label() -> None:
    english = LABELS["en"]
    assert set(LABELS) == {"en", "ar", "hi", "es", "fr"}
    for locale, labels in LABELS.items():
        assert labels.keys() == english.keys(), locale
        if locale != "en":
            assert labels["title"] != english["title"], locale
    assert prescription_labels("ar-SA")["title"] == "وصفة طبية"
    assert prescription_labels("de")["title"] == "Prescription"


@pytest.mark.parametrize("locale", ["es", "fr"])
def test_latin_languages_read_back_with_their_own_words(
    locale: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        pdf = render_prescription_pdf_bytes(document(locale))
    text = pdf_text(pdf)
    labels = prescription_labels(locale)
    for key in ("title", "patient", "doctor", "medication", "dosage", "frequency", "duration"):
        assert labels[key] in text, key
    assert f"{labels['valid_until']}: 2026-12-31" in text
    assert "Lucía Fernández" in text
    assert "1 Paracetamol 500mg Twice daily 7 days" in text
    assert {font for font, _ in shown_glyphs(pdf)} <= {"Medivoy-Sans", "Medivoy-Sans-Bold"}
    assert not [r for r in caplog.records if ".notdef" in r.getMessage()]


def test_arabic_is_laid_out_right_to_left_and_english_left_to_right() -> None:
    assert '<html lang="ar" dir="rtl">' in render_prescription_html(document("ar"))
    assert '<html lang="hi" dir="ltr">' in render_prescription_html(document("hi"))


def test_the_doctors_words_are_text_not_markup() -> None:
    hostile = '<img src="file:///etc/passwd"> Eve'
    html = render_prescription_html(
        document(
            "en",
            instructions=hostile,
            medications=[
                PrescribedMedication(name=hostile, dosage="1", frequency="1", duration="1")
            ],
        )
    )
    assert "<img" not in html
    assert html.count("&lt;img src=&#34;file:///etc/passwd&#34;&gt; Eve") == 2


async def test_the_render_activity_stores_the_pdf_once(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path)
    activities = PrescriptionActivities(sessionmaker, storage)
    doc = document("en")
    env = ActivityEnvironment()

    # A sync activity: in a thread, as the worker's activity executor runs it.
    first = await asyncio.to_thread(env.run, activities.render_prescription_pdf, doc)
    stored = tmp_path / prescription_pdf_key(doc.prescription_id)
    before = stored.stat()
    again = await asyncio.to_thread(env.run, activities.render_prescription_pdf, doc)

    assert first.rendered and not again.rendered
    assert first.storage_key == again.storage_key == f"prescriptions/{doc.prescription_id}"
    assert first.file_name == "prescription-MV-AP-2026-0000000000AB.pdf"
    assert again.size == first.size == before.st_size
    assert stored.read_bytes().startswith(b"%PDF")
    after = stored.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
