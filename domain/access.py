"""Who may see and change what: roles and the policies every router calls."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    HOSPITAL_ADMIN = "hospital_admin"
    DOCTOR = "doctor"
    PATIENT = "patient"
    COORDINATOR = "coordinator"


# Public registration may create these; doctors and hospital admins stay unverified until an
# admin approves them. Nobody registers as admin or coordinator.
SELF_REGISTERABLE: frozenset[Role] = frozenset({Role.PATIENT, Role.DOCTOR, Role.HOSPITAL_ADMIN})
NEEDS_APPROVAL: frozenset[Role] = frozenset({Role.DOCTOR, Role.HOSPITAL_ADMIN})
STAFF: frozenset[Role] = frozenset({Role.ADMIN, Role.COORDINATOR})
