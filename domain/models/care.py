"""Clinical records: uploaded medical records, prescriptions and lab tests."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base, created_at_column, one_of, updated_at_column, uuid_pk
from domain.vocabulary import LabTestStatus, RecordType


class MedicalRecord(Base):
    """A document the patient (or their care team) uploaded."""

    __tablename__ = "medical_records"
    __table_args__ = (
        one_of("record_type", [t.value for t in RecordType], nullable=False),
        CheckConstraint("file_size >= 0", name="file_size_non_negative"),
        Index(None, "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # The patient's own documents: erasing the patient erases them.
    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="SET NULL"), index=True
    )
    record_type: Mapped[str] = mapped_column(String(50), index=True)
    title: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    file_url: Mapped[str | None] = mapped_column(Text)
    file_size: Mapped[int | None]
    file_type: Mapped[str | None] = mapped_column(String(50))
    uploaded_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    record_date: Mapped[date | None]
    is_shared_with_doctors: Mapped[bool] = mapped_column(server_default=text("true"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Prescription(Base):
    """Issued by a doctor: a medico-legal record, so neither its patient, its doctor nor its
    appointment can be deleted under it (RESTRICT)."""

    __tablename__ = "prescriptions"
    __table_args__ = (Index(None, "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="RESTRICT"), index=True
    )
    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("patients.id", ondelete="RESTRICT"), index=True
    )
    doctor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("doctors.id", ondelete="RESTRICT"), index=True
    )
    medications: Mapped[list[Any] | None]
    instructions: Mapped[str | None] = mapped_column(Text)
    valid_until: Mapped[date | None]
    pdf_url: Mapped[str | None] = mapped_column(Text)
    is_dispensed: Mapped[bool] = mapped_column(server_default=text("false"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class LabTest(Base):
    __tablename__ = "lab_tests"
    __table_args__ = (
        one_of("status", [s.value for s in LabTestStatus], nullable=False),
        Index(None, "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    test_number: Mapped[str] = mapped_column(String(50), unique=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("patients.id", ondelete="RESTRICT"), index=True
    )
    doctor_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("doctors.id", ondelete="RESTRICT"), index=True
    )
    lab_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("laboratories.id", ondelete="RESTRICT"), index=True
    )
    test_type: Mapped[str | None] = mapped_column(String(100))
    test_name: Mapped[str | None] = mapped_column(String(255))
    scheduled_date: Mapped[date | None]
    status: Mapped[str] = mapped_column(
        String(50), server_default=LabTestStatus.REQUESTED.value, index=True
    )
    result_url: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
