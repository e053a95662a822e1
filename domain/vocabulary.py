"""Enumerated column values that have no workflow of their own: records, lab tests, support."""

from __future__ import annotations

from enum import StrEnum


class RecordType(StrEnum):
    XRAY = "xray"
    MRI = "mri"
    CT_SCAN = "ct_scan"
    LAB_REPORT = "lab_report"
    PRESCRIPTION = "prescription"
    DISCHARGE_SUMMARY = "discharge_summary"
    OTHER = "other"


class LabTestStatus(StrEnum):
    REQUESTED = "requested"
    SCHEDULED = "scheduled"
    SAMPLE_COLLECTED = "sample_collected"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class TicketPriority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


class TicketStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    WAITING = "waiting"
    RESOLVED = "resolved"
    CLOSED = "closed"
