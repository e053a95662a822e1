"""The translation job lifecycle: catalog text machine-translated into the platform's locales."""

from __future__ import annotations

from enum import StrEnum


class TranslationJobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
