"""Prescriptions written at an appointment: the row, its PDF in the patient's language, where
the PDF is kept, and the e-mail that carries it.

AppointmentWorkflow.provide_prescription records the row (`record_prescription`, a fast local
activity) and starts a PrescriptionDeliveryWorkflow (workflows/prescription.py), which runs the
invoice's pattern (activities/documents.py) so the doctor never waits on a render:

1. `load_prescription_document` (async): reads what the PDF prints, as plain data.
2. `render_prescription_pdf` (sync, the worker's thread pool): WeasyPrint, with the fonts we
   ship (activities/fonts), Arabic right to left, Devanagari shaped by HarfBuzz; stored under
   `prescriptions/<id>`. An object already there is reused, not rendered again.
3. `record_prescription_pdf` (async, local): writes the download URL on the row, which is also
   the mark that the PDF is stored (GET /prescriptions/:id/pdf serves it from then on).

The medications are printed as the doctor wrote them; only the labels are translated.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.documents import NO_VALUE, package_url_fetcher, text_direction
from activities.invoicing import PDF_CONTENT_TYPE
from activities.providers.storage import Storage, check_key, store_once
from activities.render import RTL_LOCALES, normalize_locale
from domain.models.appointments import Appointment
from domain.models.care import Prescription
from domain.models.catalog import Doctor
from domain.models.users import Patient, User

if TYPE_CHECKING:
    from runtime.settings import Settings

PRESCRIPTION_TEMPLATES = Path(__file__).resolve().parent / "templates" / "prescription"
PRESCRIPTION_NOT_FOUND = "PRESCRIPTION_NOT_FOUND"


def prescription_pdf_key(prescription_id: uuid.UUID) -> str:
    """One key per prescription, so a retried or repeated render lands on the same object."""
    return check_key(f"prescriptions/{prescription_id}")


def prescription_pdf_url(public_base_url: str, prescription_id: uuid.UUID) -> str:
    """The API route that serves the stored PDF (access-checked, it does not expire)."""
    return f"{public_base_url.rstrip('/')}/api/v1/prescriptions/{prescription_id}/pdf"


def prescription_pdf_file_name(appointment_number: str | None, prescription_id: uuid.UUID) -> str:
    return f"prescription-{appointment_number or prescription_id.hex[:12]}.pdf"


# The prescription's words in the five platform languages (the medications are the doctor's).
LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Prescription",
        "tagline": "Medical care across borders",
        "patient": "Patient",
        "doctor": "Doctor",
        "appointment": "Appointment",
        "date": "Date",
        "medication": "Medication",
        "dosage": "Dosage",
        "frequency": "Frequency",
        "duration": "Duration",
        "notes": "Notes",
        "instructions": "Instructions",
        "valid_until": "Valid until",
        "license": "Licence no.",
        "signature": "Issued electronically by the prescribing doctor through Medivoy.",
        "page": "Page {page} of {pages}",
    },
    "ar": {
        "title": "وصفة طبية",
        "tagline": "رعاية طبية عبر الحدود",
        "patient": "المريض",
        "doctor": "الطبيب",
        "appointment": "الموعد",
        "date": "التاريخ",
        "medication": "الدواء",
        "dosage": "الجرعة",
        "frequency": "عدد المرات",
        "duration": "المدة",
        "notes": "ملاحظات",
        "instructions": "التعليمات",
        "valid_until": "صالحة حتى",
        "license": "رقم الترخيص",
        "signature": "صادرة إلكترونيا من الطبيب المعالج عبر ميديفوي.",
        "page": "صفحة {page} من {pages}",
    },
    "hi": {
        "title": "पर्चा",
        "tagline": "सीमाओं के पार चिकित्सा देखभाल",
        "patient": "रोगी",
        "doctor": "डॉक्टर",
        "appointment": "अपॉइंटमेंट",
        "date": "दिनांक",
        "medication": "दवा",
        "dosage": "खुराक",
        "frequency": "कितनी बार",
        "duration": "अवधि",
        "notes": "टिप्पणी",
        "instructions": "निर्देश",
        "valid_until": "इस तिथि तक मान्य",
        "license": "लाइसेंस संख्या",
        "signature": "पर्चा लिखने वाले डॉक्टर द्वारा मेडिवॉय के माध्यम से इलेक्ट्रॉनिक रूप से जारी।",
        "page": "पृष्ठ {page} / {pages}",
    },
    "es": {
        "title": "Receta médica",
        "tagline": "Atención médica sin fronteras",
        "patient": "Paciente",
        "doctor": "Médico",
        "appointment": "Cita",
        "date": "Fecha",
        "medication": "Medicamento",
        "dosage": "Dosis",
        "frequency": "Frecuencia",
        "duration": "Duración",
        "notes": "Notas",
        "instructions": "Indicaciones",
        "valid_until": "Válida hasta",
        "license": "N.º de colegiado",
        "signature": "Emitida electrónicamente por el médico prescriptor a través de Medivoy.",
        "page": "Página {page} de {pages}",
    },
    "fr": {
        "title": "Ordonnance",
        "tagline": "Des soins médicaux sans frontières",
        "patient": "Patient",
        "doctor": "Médecin",
        "appointment": "Rendez-vous",
        "date": "Date",
        "medication": "Médicament",
        "dosage": "Posologie",
        "frequency": "Fréquence",
        "duration": "Durée",
        "notes": "Remarques",
        "instructions": "Instructions",
        "valid_until": "Valable jusqu'au",
        "license": "N° RPPS",
        "signature": "Délivrée électroniquement par le médecin prescripteur via Medivoy.",
        "page": "Page {page} sur {pages}",
    },
}


def prescription_labels(locale: str | None) -> dict[str, str]:
    """The prescription's words in a language (English for one it is not written in)."""
    return LABELS[normalize_locale(locale)]


class PrescriptionRecord(BaseModel):
    """What the doctor prescribed at this appointment (from the workflow's update)."""

    prescription_id: uuid.UUID
    appointment_id: uuid.UUID
    patient_id: uuid.UUID
    doctor_id: uuid.UUID
    medications: list[dict[str, Any]] = Field(min_length=1)
    instructions: str | None = None
    valid_until: date | None = None


class PrescriptionRef(BaseModel):
    prescription_id: uuid.UUID


class PrescribedMedication(BaseModel):
    name: str
    dosage: str = ""
    frequency: str = ""
    duration: str = ""
    notes: str | None = None


class PrescriptionDocument(BaseModel):
    """Everything printed on the prescription, as plain data (names and medications: it travels
    through the data converter, where the encryption codec sits, never into search attributes)."""

    prescription_id: uuid.UUID
    appointment_id: uuid.UUID | None = None
    appointment_number: str | None = None
    # The patient's language (one of the supported locales).
    locale: str
    issued_on: date
    patient_name: str
    patient_user_id: uuid.UUID | None = None
    doctor_name: str
    doctor_specialty: str | None = None
    doctor_license: str | None = None
    medications: list[PrescribedMedication]
    instructions: str | None = None
    valid_until: date | None = None
    # Where the patient downloads it (GET /prescriptions/:id/pdf, signed in).
    download_url: str = ""
    # Set when the PDF is already rendered and recorded on the row: nothing left to render.
    pdf_storage_key: str | None = None


class PrescriptionPdf(BaseModel):
    """Where the rendered PDF is, and what an e-mail attachment or a download needs."""

    prescription_id: uuid.UUID
    storage_key: str
    file_name: str
    content_type: str = PDF_CONTENT_TYPE
    size: int
    # False when an earlier attempt had already stored it (nothing was rendered this time).
    rendered: bool


def _full_name(user: User | None) -> str:
    if user is None:
        return NO_VALUE
    name = " ".join(p.strip() for p in (user.first_name, user.last_name) if p and p.strip())
    return name or user.email


def _page_counter(template: str) -> str:
    """'Page {page} of {pages}' -> the CSS content value "Page " counter(page) " of " ..."""
    parts: list[str] = []
    rest = template
    while rest:
        start = rest.find("{")
        literal = rest if start < 0 else rest[:start]
        if literal:
            escaped = "".join(c if c.isalnum() or c == " " else f"\\{ord(c):06x}" for c in literal)
            parts.append(f'"{escaped}"')
        if start < 0:
            break
        end = rest.index("}", start)
        parts.append(f"counter({rest[start + 1 : end]})")
        rest = rest[end + 1 :]
    return " ".join(parts)


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(PRESCRIPTION_TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["direction"] = text_direction
    return env


def render_prescription_html(document: PrescriptionDocument) -> str:
    from markupsafe import Markup

    locale = normalize_locale(document.locale)
    labels = prescription_labels(locale)
    return (
        _environment()
        .get_template("prescription.html")
        .render(
            doc=document,
            t=labels,
            locale=locale,
            dir="rtl" if locale in RTL_LOCALES else "ltr",
            # ISO dates: read the same in every language and script.
            issued_on=document.issued_on.isoformat(),
            valid_until=document.valid_until.isoformat() if document.valid_until else NO_VALUE,
            page_counter=Markup(_page_counter(labels["page"])),
        )
    )


def render_prescription_pdf_bytes(document: PrescriptionDocument) -> bytes:
    """The prescription as a PDF (blocking, CPU-bound: call it from a thread, never on the loop)."""
    from weasyprint import HTML
    from weasyprint.urls import FatalURLFetchingError

    html = HTML(
        string=render_prescription_html(document),
        base_url=PRESCRIPTION_TEMPLATES.as_uri() + "/",
        url_fetcher=package_url_fetcher(),
    )
    try:
        pdf = html.write_pdf()
    except FatalURLFetchingError as exc:
        # A BaseException in WeasyPrint: make it an ordinary error for the activity's retries.
        raise RuntimeError(str(exc)) from exc
    if not isinstance(pdf, bytes):
        raise RuntimeError("WeasyPrint returned no PDF")
    return pdf


def _issued_on(created_at: datetime, zone: str | None) -> date:
    try:
        return created_at.astimezone(ZoneInfo(zone or "UTC")).date()
    except (KeyError, ValueError):
        return created_at.date()


PatientUser = aliased(User)
DoctorUser = aliased(User)


class PrescriptionActivities:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        storage: Storage,
        *,
        public_base_url: str = "",
    ) -> None:
        self._sessionmaker = sessionmaker
        self._storage = storage
        self._public_base_url = public_base_url

    @activity.defn
    async def record_prescription(self, record: PrescriptionRecord) -> PrescriptionRef:
        """Insert the prescription unless its id is already there (then change nothing)."""
        async with self._sessionmaker() as session, session.begin():
            await session.execute(
                insert(Prescription)
                .values(
                    id=record.prescription_id,
                    appointment_id=record.appointment_id,
                    patient_id=record.patient_id,
                    doctor_id=record.doctor_id,
                    medications=record.medications,
                    instructions=record.instructions,
                    valid_until=record.valid_until,
                )
                .on_conflict_do_nothing(index_elements=["id"])
            )
        return PrescriptionRef(prescription_id=record.prescription_id)

    @activity.defn
    async def load_prescription_document(self, ref: PrescriptionRef) -> PrescriptionDocument:
        """What the PDF prints: the patient (name, language), the doctor, the appointment, the
        medications as written."""
        async with self._sessionmaker() as session:
            row = (
                await session.execute(
                    select(Prescription, PatientUser, Doctor, DoctorUser, Appointment)
                    .join(Patient, Patient.id == Prescription.patient_id)
                    .outerjoin(PatientUser, PatientUser.id == Patient.user_id)
                    .join(Doctor, Doctor.id == Prescription.doctor_id)
                    .outerjoin(DoctorUser, DoctorUser.id == Doctor.user_id)
                    .outerjoin(Appointment, Appointment.id == Prescription.appointment_id)
                    .where(Prescription.id == ref.prescription_id)
                )
            ).one_or_none()
        if row is None:
            raise ApplicationError(
                f"prescription {ref.prescription_id} not found",
                type=PRESCRIPTION_NOT_FOUND,
                non_retryable=True,
            )
        prescription, patient_user, doctor, doctor_user, appointment = row
        zone = patient_user.timezone if patient_user is not None else None
        return PrescriptionDocument(
            prescription_id=prescription.id,
            appointment_id=prescription.appointment_id,
            appointment_number=appointment.appointment_number if appointment else None,
            locale=normalize_locale(patient_user.locale if patient_user is not None else None),
            issued_on=_issued_on(prescription.created_at, zone),
            patient_name=_full_name(patient_user),
            patient_user_id=patient_user.id if patient_user is not None else None,
            doctor_name=_full_name(doctor_user),
            doctor_specialty=doctor.specialty,
            doctor_license=doctor.license_number,
            medications=[
                PrescribedMedication.model_validate(m) for m in prescription.medications or []
            ],
            instructions=prescription.instructions,
            valid_until=prescription.valid_until,
            download_url=prescription_pdf_url(self._public_base_url, prescription.id),
            pdf_storage_key=(
                prescription_pdf_key(prescription.id) if prescription.pdf_url else None
            ),
        )

    @activity.defn
    def render_prescription_pdf(self, document: PrescriptionDocument) -> PrescriptionPdf:
        """Render and store the PDF, unless it is already stored (then only report it).

        Runs in the worker's thread pool; the storage adapter's calls run on a private event
        loop of this thread, so the worker's loop is neither blocked nor touched."""
        key = prescription_pdf_key(document.prescription_id)
        file_name = prescription_pdf_file_name(
            document.appointment_number, document.prescription_id
        )
        stored, rendered = store_once(
            self._storage,
            key,
            lambda: render_prescription_pdf_bytes(document),
            PDF_CONTENT_TYPE,
            {"file-name": file_name},
        )
        return PrescriptionPdf(
            prescription_id=document.prescription_id,
            storage_key=key,
            file_name=file_name,
            content_type=stored.content_type or PDF_CONTENT_TYPE,
            size=stored.size,
            rendered=rendered,
        )

    @activity.defn
    async def record_prescription_pdf(self, pdf: PrescriptionPdf) -> PrescriptionPdf:
        """Write the download URL on the prescription; writing it again is a no-op."""
        async with self._sessionmaker() as session, session.begin():
            found = await session.scalar(
                update(Prescription)
                .where(Prescription.id == pdf.prescription_id)
                .values(pdf_url=prescription_pdf_url(self._public_base_url, pdf.prescription_id))
                .returning(Prescription.id)
            )
        if found is None:
            raise ApplicationError(
                f"prescription {pdf.prescription_id} not found",
                type=PRESCRIPTION_NOT_FOUND,
                non_retryable=True,
            )
        return pdf


def prescription_activity_list(activities: PrescriptionActivities) -> list[Callable[..., Any]]:
    return [
        activities.record_prescription,
        activities.load_prescription_document,
        activities.render_prescription_pdf,
        activities.record_prescription_pdf,
    ]


def build_prescription_activities(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], storage: Storage
) -> PrescriptionActivities:
    return PrescriptionActivities(sessionmaker, storage, public_base_url=settings.public_base_url)
