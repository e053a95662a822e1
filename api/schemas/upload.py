"""Upload shapes: an upload answers with the stored file's media record (MediaOut), or for a
medical record with the record (MedicalRecordOut)."""

from __future__ import annotations

# Labels a generic upload may carry; clinical files are uploaded through their own resource.
ENTITY_TYPES = (
    "user",
    "patient",
    "doctor",
    "hospital",
    "treatment",
    "package",
    "laboratory",
    "review",
    "support_ticket",
    "website_content",
    "booking",
)
