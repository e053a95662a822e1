"""The statuses of a translation job (catalog text machine-translated into the platform's locales).
No job runs yet: the API serves the translations stored in `translations`."""

from __future__ import annotations

from enum import StrEnum


class TranslationJobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
