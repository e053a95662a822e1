"""Translations: which fields of which content are translated (general or clinical), the status
of one translated field in one locale as a transition table, and the source hash that tells a
translation current from one whose source has changed since.

A translation row is one field of one entity in one locale. Machine translation proposes; a
reviewer (STAFF: admins and coordinators) approves or rejects. Clinical text is published only
once a person approved it; general text may be published by the machine when the setting
`translation_auto_publish_general` allows. Approved text whose source changes becomes stale and
stays what the public reads until its replacement is approved.
"""

from __future__ import annotations

import hashlib
import unicodedata
from enum import StrEnum

from domain.access import STAFF
from domain.lifecycle import PLATFORM, TransitionTable, moves


class TranslationJobStatus(StrEnum):
    """The statuses of a translation job row (translation_jobs)."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TranslationStatus(StrEnum):
    # Waiting for a translation of its current source (no engine, or not yet run).
    PENDING = "pending"
    MACHINE_TRANSLATED = "machine_translated"
    # A person edited the text without approving it yet.
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    # Approved, then the source changed: the approved text stays live until a replacement is.
    STALE = "stale"
    # The entity is gone: nothing is served or translated any more.
    WITHDRAWN = "withdrawn"


class FieldKind(StrEnum):
    GENERAL = "general"
    # Never published without a person's approval.
    CLINICAL = "clinical"


G, C = FieldKind.GENERAL, FieldKind.CLINICAL

# Every translatable field, declared once: entity_type (the table name, as in
# translations.entity_type) -> field -> kind. The public pages overlay these and the
# translation workflow translates them.
TRANSLATABLE: dict[str, dict[str, FieldKind]] = {
    "hospitals": {"name": G, "description": G},
    "doctors": {"bio": G, "specialty": G},
    "treatments": {"name": G, "description": C, "preparation": C, "aftercare": C},
    "packages": {"name": G, "description": G},
    "faqs": {"question": G, "answer": G},
    "website_content": {"title": G, "content": G, "meta_description": G},
}

# Who reviews and writes translations: the platform's staff (there is no translator role; a
# translator gets a coordinator account).
REVIEWERS = frozenset(STAFF)
_REVIEWER_ROLES = frozenset(r.value for r in REVIEWERS)

S = TranslationStatus
LIVE = frozenset(set(S) - {S.WITHDRAWN})

TRANSITIONS = [
    *moves(S.PENDING, [S.MACHINE_TRANSLATED], PLATFORM),
    *moves(S.PENDING, [S.IN_REVIEW, S.APPROVED], _REVIEWER_ROLES),
    *moves(S.MACHINE_TRANSLATED, [S.IN_REVIEW, S.APPROVED, S.REJECTED], _REVIEWER_ROLES),
    *moves(S.MACHINE_TRANSLATED, [S.PENDING], PLATFORM),
    *moves(S.IN_REVIEW, [S.APPROVED, S.REJECTED], _REVIEWER_ROLES),
    *moves(S.IN_REVIEW, [S.PENDING], PLATFORM),
    *moves(S.APPROVED, [S.IN_REVIEW], _REVIEWER_ROLES),
    *moves(S.APPROVED, [S.STALE], PLATFORM),
    *moves(S.STALE, [S.MACHINE_TRANSLATED], PLATFORM),
    *moves(S.STALE, [S.IN_REVIEW, S.APPROVED, S.REJECTED], _REVIEWER_ROLES),
    *moves(S.REJECTED, [S.MACHINE_TRANSLATED, S.PENDING], PLATFORM),
    *moves(S.REJECTED, [S.IN_REVIEW, S.APPROVED], _REVIEWER_ROLES),
    *(t for s in LIVE for t in moves(s, [S.WITHDRAWN], PLATFORM)),
]

TRANSLATION: TransitionTable[TranslationStatus] = TransitionTable(
    "translation", TranslationStatus, S.PENDING, frozenset({S.WITHDRAWN}), TRANSITIONS
)

# A person may ask PATCH /translations/:id for these.
DECISIONS = (S.APPROVED, S.REJECTED)


def nfc(text: str) -> str:
    """Text as stored: Unicode NFC (so equal text compares and hashes equal)."""
    return unicodedata.normalize("NFC", text)


def source_hash(text: str) -> str:
    """The hash of a source text kept with its translation (sha256 of its NFC UTF-8)."""
    return hashlib.sha256(nfc(text).encode()).hexdigest()


def fields_of(entity_type: str) -> dict[str, FieldKind]:
    return TRANSLATABLE.get(entity_type, {})
