"""/dashboard: what each role needs on opening the app, each only its own (the admin's overdue
review queue and today's figures; a hospital admin's upcoming arrivals; a doctor's consultations
today; a patient's next steps and unpaid invoices). Ids, numbers and statuses only: names and
medical details stay on the records' own routes. Cached like the analytics answers."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends
from sqlalchemy import String, bindparam, cast, func, literal, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from activities.analytics import day_bounds
from api.cache import AnswerCache, cached
from api.deps import DbSession, SettingsDep, require_roles
from api.envelope import ERROR_RESPONSES, Envelope, ok
from api.routers.analytics import Cache
from api.services import analytics as figures
from domain.access import Role
from domain.appointment import TERMINAL as APPOINTMENT_ENDED
from domain.booking import BookingStatus
from domain.models.appointments import Appointment
from domain.models.bookings import CLOSED_STATUSES, REVIEW_STATUSES, Booking
from domain.models.catalog import Doctor, Hospital
from domain.models.payments import Invoice, Payment
from domain.models.users import Patient, User
from domain.payment import OPEN as PAYMENT_OPEN
from domain.payment import InvoiceStatus
from runtime.settings import Settings

TAG = {"name": "Dashboard", "description": "What each role sees on opening the app"}
router = APIRouter(prefix="/dashboard", tags=["Dashboard"], responses=ERROR_RESPONSES)
LIST_LIMIT = 20
# What a patient does next on a booking waiting for them.
NEXT_STEP = {
    BookingStatus.AWAITING_MEDICAL_DETAILS.value: "send_medical_details",
    BookingStatus.QUOTATION_SENT.value: "answer_quotation",
    BookingStatus.PAYMENT_PENDING.value: "pay",
    BookingStatus.COMPLETED.value: "leave_feedback",
}
UNPAID = (InvoiceStatus.ISSUED.value, InvoiceStatus.SENT.value)


def _iso(value: Any) -> Any:
    return value.isoformat() if value is not None and hasattr(value, "isoformat") else value


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _listed(values: Sequence[str]) -> Any:
    """The values written into the SQL rather than sent as parameters: the partial indexes of
    the queues (domain/models/bookings.py) name them, and PostgreSQL uses such an index only
    where it sees that the query's condition implies the index's, also in a cached plan."""
    return bindparam(None, list(values), expanding=True, literal_execute=True)


# Open bookings: not closed (CLOSED_STATUSES); waiting for review (REVIEW_STATUSES).
OPEN = Booking.status.not_in(_listed(CLOSED_STATUSES))
IN_REVIEW = Booking.status.in_(_listed(REVIEW_STATUSES))


async def _by_status(db: AsyncSession, *where: Any) -> dict[str, int]:
    rows = await db.execute(
        select(Booking.status, func.count()).where(OPEN, *where).group_by(Booking.status)
    )
    return {status: n for status, n in sorted((s, n) for s, n in rows)}


async def _today(
    db: AsyncSession, settings: Settings, hospital_ids: Sequence[uuid.UUID | None]
) -> dict[uuid.UUID | None, Any]:
    """Today's overview of each scope (None: the platform), today's live figures read once."""
    zone = ZoneInfo(settings.analytics_timezone)
    now = datetime.now(UTC)
    today = now.astimezone(zone).date()
    answers = await figures.answers(
        db,
        "overview",
        first=today,
        last=today,
        group_by="day",
        hospital_ids=hospital_ids,
        zone=zone,
        now=now,
    )
    return {h: {"day": today.isoformat(), **a["totals"]} for h, a in answers.items()}


async def _answer(
    cache: AnswerCache,
    settings: Settings,
    user: User,
    compute: Callable[[], Awaitable[dict[str, Any]]],
) -> Envelope[dict[str, Any]]:
    key = f"dashboard:{user.user_type}:{user.id}"
    return ok(await cached(cache, key, settings.analytics_cache_seconds, compute, live=True))


@router.get(
    "/admin",
    response_model=Envelope[dict[str, Any]],
    summary="Admin: bookings waiting for review past their SLA, accounts to approve, today",
)
async def admin_dashboard(
    db: DbSession,
    settings: SettingsDep,
    cache: Cache,
    user: Annotated[User, Depends(require_roles(Role.ADMIN))],
) -> Envelope[dict[str, Any]]:
    async def compute() -> dict[str, Any]:
        now = datetime.now(UTC)
        due = now - timedelta(hours=settings.booking_review_sla_hours)
        late = (IN_REVIEW, Booking.created_at < due)
        # The counts in one round trip: overdue reviews, open bookings by status, accounts
        # waiting for approval (each from its partial index).
        counted = await db.execute(
            union_all(
                select(literal("overdue"), cast(null(), String), func.count().label("n")).where(
                    *late
                ),
                select(literal("open"), Booking.status, func.count())
                .where(OPEN)
                .group_by(Booking.status),
                select(literal("approval"), User.user_type, func.count())
                .where(User.is_approved.is_(False), User.is_active.is_(True))
                .group_by(User.user_type),
            )
        )
        counts: dict[str, dict[str | None, int]] = {"overdue": {}, "open": {}, "approval": {}}
        for kind, key, n in counted:
            counts[kind][key] = n
        oldest = await db.execute(
            select(
                Booking.id,
                Booking.booking_number,
                Booking.status,
                Booking.hospital_id,
                Booking.coordinator_id,
                Booking.created_at,
            )
            .where(*late)
            .order_by(Booking.created_at)
            .limit(LIST_LIMIT)
        )
        return {
            "review_sla_hours": settings.booking_review_sla_hours,
            "overdue_reviews": {
                "count": counts["overdue"].get(None, 0),
                "oldest": [
                    {
                        "id": str(b.id),
                        "booking_number": b.booking_number,
                        "status": b.status,
                        "hospital_id": _str(b.hospital_id),
                        "coordinator_id": _str(b.coordinator_id),
                        "waiting_since": b.created_at.isoformat(),
                        "hours_waiting": int((now - b.created_at).total_seconds() // 3600),
                    }
                    for b in oldest
                ],
            },
            "awaiting_approval": {role: n for role, n in sorted(counts["approval"].items())},
            "open_bookings_by_status": {s: n for s, n in sorted(counts["open"].items())},
            "today": (await _today(db, settings, [None]))[None],
        }

    return await _answer(cache, settings, user, compute)


@router.get(
    "/hospital",
    response_model=Envelope[dict[str, Any]],
    summary="Hospital admin: upcoming arrivals and open bookings of the hospitals you run",
)
async def hospital_dashboard(
    db: DbSession,
    settings: SettingsDep,
    cache: Cache,
    user: Annotated[User, Depends(require_roles(Role.HOSPITAL_ADMIN))],
) -> Envelope[dict[str, Any]]:
    async def compute() -> dict[str, Any]:
        hospitals = list(
            await db.scalars(
                select(Hospital.id).where(Hospital.admin_user_id == user.id).order_by(Hospital.id)
            )
        )
        today = datetime.now(UTC).astimezone(ZoneInfo(settings.analytics_timezone)).date()
        ours = Booking.hospital_id.in_(hospitals)
        arrivals = await db.execute(
            select(
                Booking.id,
                Booking.booking_number,
                Booking.status,
                Booking.hospital_id,
                Booking.treatment_id,
                Booking.confirmed_date,
            )
            .where(ours, OPEN, Booking.confirmed_date >= today)
            .order_by(Booking.confirmed_date, Booking.booking_number)
            .limit(LIST_LIMIT)
        )
        return {
            "hospital_ids": [str(h) for h in hospitals],
            "upcoming_arrivals": [
                {
                    "id": str(b.id),
                    "booking_number": b.booking_number,
                    "status": b.status,
                    "hospital_id": _str(b.hospital_id),
                    "treatment_id": _str(b.treatment_id),
                    "arrives_on": _iso(b.confirmed_date),
                }
                for b in arrivals
            ],
            "open_bookings_by_status": await _by_status(db, ours) if hospitals else {},
            "today": {str(h): t for h, t in (await _today(db, settings, hospitals)).items()},
        }

    return await _answer(cache, settings, user, compute)


@router.get(
    "/doctor",
    response_model=Envelope[dict[str, Any]],
    summary="Doctor: your consultations today (in your time zone) and what comes next",
)
async def doctor_dashboard(
    db: DbSession,
    settings: SettingsDep,
    cache: Cache,
    user: Annotated[User, Depends(require_roles(Role.DOCTOR))],
) -> Envelope[dict[str, Any]]:
    async def compute() -> dict[str, Any]:
        doctor = await db.scalar(select(Doctor).where(Doctor.user_id == user.id))
        if doctor is None:
            return {"consultations_today": [], "upcoming": 0, "awaiting_confirmation": 0}
        zone = ZoneInfo(doctor.timezone or user.timezone or settings.default_timezone)
        now = datetime.now(UTC)
        start, end = day_bounds(now.astimezone(zone).date(), zone)
        mine = (
            Appointment.doctor_id == doctor.id,
            Appointment.status.not_in([s.value for s in APPOINTMENT_ENDED]),
        )
        today = await db.execute(
            select(
                Appointment.id,
                Appointment.appointment_number,
                Appointment.status,
                Appointment.appointment_type,
                Appointment.scheduled_date,
                Appointment.ends_at,
            )
            .where(
                Appointment.doctor_id == doctor.id,
                Appointment.scheduled_date >= start,
                Appointment.scheduled_date < end,
            )
            .order_by(Appointment.scheduled_date)
        )
        later, unconfirmed = (
            await db.execute(
                select(
                    func.count().filter(Appointment.scheduled_date >= end),
                    func.count().filter(
                        Appointment.status.in_(["requested", "booked"]),
                        Appointment.scheduled_date >= now,
                    ),
                ).where(*mine, Appointment.scheduled_date >= min(end, now))
            )
        ).one()
        return {
            "timezone": zone.key,
            "consultations_today": [
                {
                    "id": str(a.id),
                    "appointment_number": a.appointment_number,
                    "status": a.status,
                    "appointment_type": a.appointment_type,
                    "starts_at": a.scheduled_date.isoformat(),
                    "ends_at": a.ends_at.isoformat(),
                }
                for a in today
            ],
            "upcoming": later or 0,
            "awaiting_confirmation": unconfirmed or 0,
        }

    return await _answer(cache, settings, user, compute)


@router.get(
    "/patient",
    response_model=Envelope[dict[str, Any]],
    summary="Patient: your next steps, upcoming appointments, unpaid invoices and payments",
)
async def patient_dashboard(
    db: DbSession,
    settings: SettingsDep,
    cache: Cache,
    user: Annotated[User, Depends(require_roles(Role.PATIENT))],
) -> Envelope[dict[str, Any]]:
    async def compute() -> dict[str, Any]:
        patient = await db.scalar(select(Patient.id).where(Patient.user_id == user.id))
        now = datetime.now(UTC)
        waiting = await db.execute(
            select(Booking.id, Booking.booking_number, Booking.status)
            .where(Booking.patient_id == patient, Booking.status.in_(list(NEXT_STEP)))
            .order_by(Booking.created_at)
        )
        appointments = await db.execute(
            select(
                Appointment.id,
                Appointment.appointment_number,
                Appointment.status,
                Appointment.scheduled_date,
            )
            .where(
                Appointment.patient_id == patient,
                Appointment.status.not_in([s.value for s in APPOINTMENT_ENDED]),
                Appointment.scheduled_date >= now,
            )
            .order_by(Appointment.scheduled_date)
            .limit(LIST_LIMIT)
        )
        invoices = await db.execute(
            select(
                Invoice.id,
                Invoice.invoice_number,
                Invoice.final_amount,
                Invoice.currency,
                Invoice.due_date,
            )
            .where(Invoice.patient_id == patient, Invoice.status.in_(UNPAID))
            .order_by(Invoice.due_date.nulls_last(), Invoice.invoice_number)
        )
        payments = await db.execute(
            select(Payment.id, Payment.amount, Payment.currency, Payment.booking_id)
            .where(
                Payment.patient_id == patient,
                Payment.status.in_([s.value for s in PAYMENT_OPEN]),
            )
            .order_by(Payment.created_at)
        )
        today = now.date()
        return {
            "next_steps": [
                {
                    "booking_id": str(b.id),
                    "booking_number": b.booking_number,
                    "status": b.status,
                    "action": NEXT_STEP[b.status],
                }
                for b in waiting
            ],
            "upcoming_appointments": [
                {
                    "id": str(a.id),
                    "appointment_number": a.appointment_number,
                    "status": a.status,
                    "starts_at": a.scheduled_date.isoformat(),
                }
                for a in appointments
            ],
            "unpaid_invoices": [
                {
                    "id": str(i.id),
                    "invoice_number": i.invoice_number,
                    "amount": str(i.final_amount),
                    "currency": i.currency,
                    "due_date": _iso(i.due_date),
                    "overdue": i.due_date is not None and i.due_date < today,
                }
                for i in invoices
            ],
            "pending_payments": [
                {
                    "id": str(p.id),
                    "amount": str(p.amount),
                    "currency": p.currency,
                    "booking_id": _str(p.booking_id),
                }
                for p in payments
            ],
        }

    return await _answer(cache, settings, user, compute)
