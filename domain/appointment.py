"""The appointment (teleconsultation) lifecycle: its statuses, its transition table as data, and
the pure policies its workflow applies (reminder instants, refunds by notice, change limits).

TRANSITIONS says from which status to which, who may ask (the patient, the appointment's doctor,
the admin of the doctor's hospital, staff; the platform for its timers) and which guards hold.
The appointment workflow's validators check it, the API answers 409 with the allowed next
statuses from it, and tests/domain/test_lifecycles.py holds it to the promises of every table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from domain import access
from domain.access import STAFF, AppointmentParties, Role
from domain.lifecycle import (
    PLATFORM,
    SYSTEM,
    Actor,
    MoveRefused,
    Transition,
    TransitionTable,
    moves,
)

__all__ = [
    "APPOINTMENT",
    "SYSTEM",
    "Actor",
    "AppointmentParties",
    "AppointmentStatus",
    "AppointmentType",
    "MoveContext",
    "MoveRefused",
]


class AppointmentStatus(StrEnum):
    REQUESTED = "requested"
    # The plan's other spelling of requested: old rows may carry it; no move leads there.
    BOOKED = "booked"
    APPOINTMENT_CONFIRMED = "appointment_confirmed"
    AWAITING_CONSULTATION = "awaiting_consultation"
    CONSULTATION_IN_PROGRESS = "consultation_in_progress"
    PRESCRIPTION_PROVIDED = "prescription_provided"
    FOLLOW_UP_SCHEDULED = "follow_up_scheduled"
    CONSULTATION_COMPLETED = "consultation_completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


class AppointmentType(StrEnum):
    TELECONSULT = "teleconsult"
    IN_PERSON = "in_person"


class NoShowParty(StrEnum):
    PATIENT = "patient"
    DOCTOR = "doctor"
    BOTH = "both"


S = AppointmentStatus
TERMINAL: frozenset[AppointmentStatus] = frozenset(
    {S.CONSULTATION_COMPLETED, S.CANCELLED, S.NO_SHOW}
)
# Waiting for the doctor (or staff) to confirm: the hold timer runs here.
UNCONFIRMED: frozenset[AppointmentStatus] = frozenset({S.REQUESTED, S.BOOKED})
# Confirmed and not yet started: reminders, the awaiting move and the no-show timer run here.
UPCOMING: frozenset[AppointmentStatus] = frozenset(
    {S.APPOINTMENT_CONFIRMED, S.AWAITING_CONSULTATION}
)
# The slot is still ahead: it may be rescheduled or cancelled.
BEFORE_CONSULTATION: frozenset[AppointmentStatus] = UNCONFIRMED | UPCOMING
# The consultation has happened (or is happening).
CONSULTED: frozenset[AppointmentStatus] = frozenset(
    {S.CONSULTATION_IN_PROGRESS, S.PRESCRIPTION_PROVIDED, S.FOLLOW_UP_SCHEDULED}
)

# Role sets. StrEnum members compare equal to their values, so a token's role string matches.
EVERYONE: frozenset[str] = frozenset(
    {Role.PATIENT, Role.DOCTOR, Role.HOSPITAL_ADMIN, Role.ADMIN, Role.COORDINATOR}
)
DOCTOR_SIDE: frozenset[str] = frozenset({Role.DOCTOR, Role.HOSPITAL_ADMIN, *STAFF})
DOCTOR_OR_STAFF: frozenset[str] = frozenset({Role.DOCTOR, *STAFF})
DOCTOR_ONLY: frozenset[str] = frozenset({Role.DOCTOR})


@dataclass(frozen=True)
class MoveContext:
    """What the guards look at besides the status: the money, the clock, the command."""

    now: datetime
    starts_at: datetime
    # The doctor asks for payment first, and whether it has been paid.
    payment_required: bool = False
    paid: bool = False
    # The consultation may start this long before its start (the video window).
    open_before: timedelta = timedelta(minutes=15)
    # The command carries a prescription (POST /appointments/:id/prescription).
    prescription_in_command: bool = False
    # The command is the creation of a follow-up appointment.
    follow_up_in_command: bool = False


def paid_if_required(ctx: MoveContext) -> str | None:
    return "PAYMENT_REQUIRED" if ctx.payment_required and not ctx.paid else None


def consultation_open(ctx: MoveContext) -> str | None:
    return None if ctx.now >= ctx.starts_at - ctx.open_before else "CONSULTATION_NOT_OPEN"


def requires_prescription(ctx: MoveContext) -> str | None:
    return None if ctx.prescription_in_command else "PRESCRIPTION_REQUIRED"


def requires_follow_up(ctx: MoveContext) -> str | None:
    return None if ctx.follow_up_in_command else "FOLLOW_UP_REQUIRED"


GUARD_MESSAGES: dict[str, str] = {
    "PAYMENT_REQUIRED": "The doctor asks for payment first: it confirms once paid",
    "CONSULTATION_NOT_OPEN": "The consultation cannot start this long before its time",
    "PRESCRIPTION_REQUIRED": "Send the prescription (POST /appointments/{id}/prescription)",
    "FOLLOW_UP_REQUIRED": "Book the follow-up (POST /appointments with follow_up_of)",
}

TRANSITIONS: tuple[Transition[AppointmentStatus], ...] = (
    *(
        move
        for source in (S.REQUESTED, S.BOOKED)
        for move in (
            *moves(source, [S.APPOINTMENT_CONFIRMED], DOCTOR_SIDE | PLATFORM, paid_if_required),
            # Cancelled by a person, or by the platform (hold expired, unpaid by the deadline).
            *moves(source, [S.CANCELLED], EVERYONE | PLATFORM),
        )
    ),
    # The system move near the start (MEDIVOY_APPOINTMENT_AWAITING_HOURS), or the doctor's side.
    *moves(S.APPOINTMENT_CONFIRMED, [S.AWAITING_CONSULTATION], DOCTOR_SIDE | PLATFORM),
    *moves(
        S.APPOINTMENT_CONFIRMED,
        [S.CONSULTATION_IN_PROGRESS],
        DOCTOR_OR_STAFF | PLATFORM,
        consultation_open,
    ),
    *moves(S.APPOINTMENT_CONFIRMED, [S.CANCELLED], EVERYONE | PLATFORM),
    *moves(S.APPOINTMENT_CONFIRMED, [S.NO_SHOW], STAFF | PLATFORM),
    *moves(
        S.AWAITING_CONSULTATION,
        [S.CONSULTATION_IN_PROGRESS],
        DOCTOR_OR_STAFF | PLATFORM,
        consultation_open,
    ),
    *moves(S.AWAITING_CONSULTATION, [S.CANCELLED], EVERYONE | PLATFORM),
    *moves(S.AWAITING_CONSULTATION, [S.NO_SHOW], STAFF | PLATFORM),
    *moves(
        S.CONSULTATION_IN_PROGRESS, [S.PRESCRIPTION_PROVIDED], DOCTOR_ONLY, requires_prescription
    ),
    *moves(S.CONSULTATION_IN_PROGRESS, [S.CONSULTATION_COMPLETED], DOCTOR_OR_STAFF),
    # Reached by booking the follow-up, which the platform records on the first appointment.
    *moves(S.CONSULTATION_IN_PROGRESS, [S.FOLLOW_UP_SCHEDULED], PLATFORM, requires_follow_up),
    *moves(S.PRESCRIPTION_PROVIDED, [S.FOLLOW_UP_SCHEDULED], PLATFORM, requires_follow_up),
    *moves(S.PRESCRIPTION_PROVIDED, [S.CONSULTATION_COMPLETED], DOCTOR_OR_STAFF),
    *moves(S.FOLLOW_UP_SCHEDULED, [S.CONSULTATION_COMPLETED], DOCTOR_OR_STAFF | PLATFORM),
)


def involved(actor: Actor, parties: AppointmentParties) -> bool:
    """access.in_appointment for this actor (the platform included)."""
    person = access.Person(role=actor.role, user_id=actor.user_id, system=actor.is_system)
    return access.in_appointment(person, parties)


APPOINTMENT: TransitionTable[AppointmentStatus] = TransitionTable(
    "appointment",
    AppointmentStatus,
    S.REQUESTED,
    TERMINAL,
    TRANSITIONS,
    involved=involved,
    not_involved=("NOT_YOUR_APPOINTMENT", "You do not act on this appointment"),
    guard_messages=GUARD_MESSAGES,
    retired=frozenset({S.BOOKED}),
)
SYSTEM_ONLY_TARGETS: frozenset[AppointmentStatus] = APPOINTMENT.system_only_targets


def next_statuses(source: AppointmentStatus, role: str | None = None) -> list[AppointmentStatus]:
    return APPOINTMENT.next_statuses(source, role)


# PATCH /appointments/:id: the patient's complaint until the consultation starts; the notes
# (the doctor side's) until it ends.
COMPLAINT_STATUSES: frozenset[AppointmentStatus] = BEFORE_CONSULTATION
NOTES_STATUSES: frozenset[AppointmentStatus] = frozenset(S) - TERMINAL
# Clinical words: the patient, the doctor and staff. Not the hospital's admin, who runs the
# schedule and is shown neither (minimum necessary).
EDITORS: dict[str, frozenset[str]] = {
    "chief_complaint": frozenset({Role.PATIENT, *DOCTOR_OR_STAFF}),
    "notes": DOCTOR_OR_STAFF,
}


def check_edit(
    status: AppointmentStatus, fields: Iterable[str], actor: Actor, parties: AppointmentParties
) -> None:
    """Who may change which detail, in which status (MoveRefused saying why not)."""
    if not involved(actor, parties):
        raise MoveRefused("Forbidden", "NOT_YOUR_APPOINTMENT", "You do not act on this appointment")
    for name in sorted(set(fields)):
        if actor.role not in EDITORS.get(name, frozenset()):
            raise MoveRefused("Forbidden", "ROLE_NOT_ALLOWED", f"Your role may not change {name}")
        statuses = COMPLAINT_STATUSES if name == "chief_complaint" else NOTES_STATUSES
        if status not in statuses:
            raise MoveRefused(
                "Conflict",
                "APPOINTMENT_NOT_EDITABLE",
                f"In status {status.value} the {name} can no longer change",
            )


@dataclass(frozen=True)
class ChangeLimits:
    """The doctor's rules for changes: patients change up to `notice` before the start, and an
    appointment is rescheduled at most `max_reschedules` times (staff may override both)."""

    notice: timedelta = timedelta(hours=24)
    max_reschedules: int = 2


def check_change(
    kind: str,
    actor: Actor,
    *,
    now: datetime,
    starts_at: datetime,
    limits: ChangeLimits,
    reschedule_count: int = 0,
    override: bool = False,
) -> bool:
    """Whether a reschedule or cancellation (kind) may go ahead under the limits; True when a
    staff override was used (the caller writes it to the audit log). MoveRefused otherwise.

    The notice limit binds patients; the reschedule count binds everyone; staff pass either
    with `override`. The doctor's side may cancel late (the patient is refunded in full)."""
    if override and actor.role not in STAFF:
        raise MoveRefused("Forbidden", "OVERRIDE_NOT_ALLOWED", "Only staff may override limits")
    late = actor.role == Role.PATIENT and starts_at - now < limits.notice
    too_many = kind == "reschedule" and reschedule_count >= limits.max_reschedules
    if override:
        return too_many
    if late:
        hours = int(limits.notice.total_seconds() // 3600)
        raise MoveRefused(
            "Conflict",
            "CHANGE_NOTICE_PASSED",
            f"Changes are possible up to {hours} h before the start; ask the clinic",
        )
    if too_many:
        raise MoveRefused(
            "Conflict",
            "RESCHEDULE_LIMIT_REACHED",
            f"This appointment has been rescheduled {reschedule_count} times already",
        )
    return False


# The refund of a patient's cancellation by the notice given: at least this many hours before
# the start gives back this percent (MEDIVOY_APPOINTMENT_REFUND_POLICY overrides it).
DEFAULT_REFUND_POLICY: dict[int, Decimal] = {24: Decimal(100), 2: Decimal(50), 0: Decimal(0)}


def check_refund_policy(policy: Mapping[int, Decimal]) -> dict[int, Decimal]:
    checked: dict[int, Decimal] = {}
    for hours, percent in policy.items():
        value = Decimal(percent)
        if int(hours) < 0:
            raise ValueError("notice hours must not be negative")
        if not value.is_finite() or not Decimal(0) <= value <= Decimal(100):
            raise ValueError(f"the refund for {hours} h must be a percent from 0 to 100")
        checked[int(hours)] = value
    return checked


def refund_percent(
    notice: timedelta, cancelled_by: str, policy: Mapping[int, Decimal] | None = None
) -> Decimal:
    """The percent of the payment a cancellation gives back: the patient's by the notice given,
    everyone else's (the doctor's side, staff, the platform) in full."""
    if cancelled_by != Role.PATIENT:
        return Decimal(100)
    rules = DEFAULT_REFUND_POLICY if policy is None else policy
    hours = notice.total_seconds() / 3600
    for threshold in sorted(rules, reverse=True):
        if hours >= threshold:
            return Decimal(rules[threshold])
    return Decimal(0)


def confirm_deadline(created: datetime, starts_at: datetime, hold: timedelta) -> datetime:
    """Until when a requested appointment holds its slot unconfirmed: never after its start."""
    return min(created + hold, starts_at)


@dataclass(frozen=True)
class QuietHours:
    """Local hours [start, end) in which no reminder is sent (wrapping midnight when end <=
    start); None-like when start == end."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours | None:
        """ "22:00-08:00" -> QuietHours; "" -> None (no quiet hours)."""
        text = text.strip()
        if not text:
            return None
        try:
            first, second = text.split("-")
            start, end = time.fromisoformat(first.strip()), time.fromisoformat(second.strip())
        except ValueError:
            raise ValueError(f"quiet hours must look like 22:00-08:00, not {text!r}") from None
        return None if start == end else cls(start, end)

    def contains(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def began(self, local: datetime) -> datetime:
        """When the quiet period holding this local instant began (aware, in its zone)."""
        day: date = local.date()
        if self.start >= self.end and local.time() < self.end:
            day = day - timedelta(days=1)
        zone = local.tzinfo
        return datetime.combine(day, self.start, tzinfo=zone)


def parse_offsets(text: str) -> list[timedelta]:
    """ "24h,1h,30m,2d" -> offsets before the start, largest first."""
    units = {"m": "minutes", "h": "hours", "d": "days"}
    offsets: list[timedelta] = []
    for part in text.split(","):
        part = part.strip().lower()
        if not part:
            continue
        unit = units.get(part[-1])
        if unit is None or not part[:-1].isdigit():
            raise ValueError(f"a reminder offset looks like 24h, 30m or 2d, not {part!r}")
        offsets.append(timedelta(**{unit: int(part[:-1])}))
    return sorted(set(offsets), reverse=True)


def offset_label(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


@dataclass(frozen=True)
class Reminder:
    label: str  # the offset it stands for, e.g. "24h"
    at: datetime  # aware UTC


# Moved out of quiet hours, a reminder goes this long before they begin.
QUIET_MARGIN = timedelta(minutes=1)


def reminder_instants(
    starts_at: datetime,
    offsets: Iterable[timedelta],
    zone: str,
    quiet: QuietHours | None,
    *,
    not_before: datetime,
) -> list[Reminder]:
    """When each reminder goes out: `offset` before the start, unless that falls inside quiet
    hours in the patient's zone, then just before they began (earlier, never later). A reminder
    that would fall before `not_before` (the booking was made too late for it) is dropped, and
    two that land on the same instant go out once. Sorted by time."""
    tz = ZoneInfo(zone)
    chosen: dict[datetime, str] = {}
    for offset in sorted(set(offsets), reverse=True):
        at = starts_at - offset
        if quiet is not None:
            local = at.astimezone(tz)
            if quiet.contains(local.time()):
                at = quiet.began(local).astimezone(starts_at.tzinfo) - QUIET_MARGIN
        if at < not_before or at >= starts_at:
            continue
        chosen.setdefault(at, offset_label(offset))
    return [Reminder(label, at) for at, label in sorted(chosen.items())]


def no_show_party(patient_joined: bool, doctor_joined: bool) -> NoShowParty | None:
    """Who was missing when the grace period ended (None: both came)."""
    if patient_joined and doctor_joined:
        return None
    if doctor_joined:
        return NoShowParty.PATIENT
    if patient_joined:
        return NoShowParty.DOCTOR
    return NoShowParty.BOTH


def local_wall_time(instant: datetime, zone: str) -> str:
    """The instant as the person's clock shows it, for messages ("2027-03-28 10:00")."""
    return instant.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
