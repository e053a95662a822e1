"""The access matrix's world: two of every party (the owners' side and strangers), and seeders
that make one object for each path with an id in it, owned by the owners' side.

Seeders are keyed by the path prefix they serve (as the OpenAPI spells it, without /api/v1): the
longest registered prefix of an operation's path picks its seeder, so a new route under an
existing resource (`/appointments/{appointment_id}/prescription.pdf`) is covered by that
resource's seeder, and a route under a new resource finds none and fails the matrix with "add a
seeder for ...". A seeder says which path parameters it fills, the values that must never reach
a stranger (the object's id and distinctive fields, each carrying MARK), who owns it and the GET
path where the owner reads it (the proof that the seed is real and that a refusal is not a typo).
Add a seeder with `@seeder("/things/{thing_id}")` next to the others."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from activities.appointments import NewAppointment
from activities.bookings import NewBooking
from activities.providers.storage import Storage, new_key
from domain.access import Role
from domain.models.appointments import Appointment, DoctorWaitlist
from domain.models.bookings import Booking
from domain.models.care import LabTest, MedicalRecord, Prescription
from domain.models.catalog import (
    Hospital,
    HospitalDoctor,
    Insurance,
    Laboratory,
    Package,
    Treatment,
)
from domain.models.content import Faq, Media, Review, SupportTicket, Translation, WebsiteContent
from domain.models.notifications import Notification
from domain.models.payments import Coupon, Invoice, Payment
from domain.models.subscriptions import Subscription, SubscriptionPlan
from runtime.settings import Settings
from tests.builders.care_builders import Person, add_appointment, add_booking, person
from tests.builders.subscription_money import SubscriptionMoney, add_subscription_money
from workflows.appointment import AppointmentInput, open_appointment
from workflows.booking import BookingInput, open_booking

# Every distinctive value a seeder writes carries this: a stranger's answer must not contain it.
MARK = "Zq7Secret"

# The owners' side (who an object belongs to) and the strangers (who try to reach it).
OWNERS = ("patient", "doctor", "hospital_admin", "coordinator")
STRANGERS = ("other_patient", "other_doctor", "other_hospital_admin", "other_coordinator")
ROLES = {
    "patient": Role.PATIENT,
    "doctor": Role.DOCTOR,
    "hospital_admin": Role.HOSPITAL_ADMIN,
    "coordinator": Role.COORDINATOR,
    "admin": Role.ADMIN,
}


PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def marked(what: str) -> str:
    return f"{MARK}-{what}-{uuid.uuid4().hex[:6]}"


@dataclass
class Seeded:
    params: dict[str, str]  # path parameter -> the object's value (id, slug, code)
    secrets: tuple[str, ...]  # never in a stranger's answer: the id, distinctive values
    owner: str  # the party (World.people key, or "admin") who sees it
    read: str  # a GET path (under /api/v1) where the owner finds the secrets
    # People of the owners' side with no part in this object: refused like the strangers.
    refused: tuple[str, ...] = ()


@dataclass
class World:
    sessionmaker: async_sessionmaker[AsyncSession]
    settings: Settings
    people: dict[str, Person]
    hospital: Hospital
    other_hospital: Hospital
    booking_id: uuid.UUID
    appointment_id: uuid.UUID
    storage: Storage | None = None  # where seeded files go (the app's store), when given
    seeded: dict[str, Seeded] = field(default_factory=dict)
    proven: dict[str, str] = field(default_factory=dict)  # prefix -> the owner's read of it

    def headers(self, who: str) -> dict[str, str]:
        return {} if who == "anonymous" else self.people[who].headers

    def patient_id(self, who: str = "patient") -> uuid.UUID:
        found = self.people[who].patient_id
        assert found is not None
        return found

    def doctor_id(self, who: str = "doctor") -> uuid.UUID:
        found = self.people[who].doctor_id
        assert found is not None
        return found

    def user_id(self, who: str) -> uuid.UUID:
        return self.people[who].user.id

    async def stored_file(self, what: str) -> str | None:
        """A small PDF in the app's store, for rows that carry a file (None without a store)."""
        if self.storage is None:
            return None
        key = new_key(what, self.patient_id())
        await self.storage.put(key, PDF, "application/pdf", {})
        return key

    async def add(self, *rows: Any) -> None:
        async with self.sessionmaker() as db, db.begin():
            for row in rows:
                db.add(row)
                await db.flush()


Seeder = Callable[[World], Awaitable[Seeded]]
SEEDERS: dict[str, Seeder] = {}


def seeder(prefix: str) -> Callable[[Seeder], Seeder]:
    def register(function: Seeder) -> Seeder:
        assert prefix not in SEEDERS, f"two seeders for {prefix}"
        SEEDERS[prefix] = function
        return function

    return register


def seeder_for(path: str) -> str | None:
    """The registered prefix that serves this path (the longest one), if any."""
    matching = [p for p in SEEDERS if path == p or path.startswith(p + "/")]
    return max(matching, key=len, default=None)


async def seed(world: World, prefix: str) -> Seeded:
    if prefix not in world.seeded:
        world.seeded[prefix] = await SEEDERS[prefix](world)
    return world.seeded[prefix]


async def build_world(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    temporal: Client | None = None,
    task_queue: str | None = None,
    storage: Storage | None = None,
) -> World:
    """Everyone, their hospitals, and the owners' booking and appointment. With a Temporal client
    (and a worker on task_queue) the booking and the appointment are opened by their workflows,
    so commands on them reach a running workflow (the fuzzer); otherwise their rows are written
    directly (the matrix, where no stranger's command may get that far)."""
    people = {
        name: await person(sessionmaker, settings, role, last_name=marked(name))
        for name, role in ROLES.items()
    }
    for name in STRANGERS:
        people[name] = await person(sessionmaker, settings, ROLES[name.removeprefix("other_")])
    hospital = Hospital(
        id=uuid.uuid4(),
        name=marked("hospital"),
        admin_user_id=people["hospital_admin"].user.id,
        is_verified=True,
    )
    other = Hospital(
        id=uuid.uuid4(),
        name="Stranger Hospital",
        admin_user_id=people["other_hospital_admin"].user.id,
        is_verified=True,
    )
    async with sessionmaker() as db, db.begin():
        db.add_all([hospital, other])
        await db.flush()
        db.add(
            HospitalDoctor(
                id=uuid.uuid4(), hospital_id=hospital.id, doctor_id=people["doctor"].doctor_id
            )
        )
        db.add(
            HospitalDoctor(
                id=uuid.uuid4(), hospital_id=other.id, doctor_id=people["other_doctor"].doctor_id
            )
        )
    patient_id = people["patient"].patient_id
    doctor_id = people["doctor"].doctor_id
    assert patient_id is not None and doctor_id is not None
    if temporal is not None and task_queue is not None:
        booking_id, appointment_id = uuid.uuid4(), uuid.uuid4()
        await open_booking(
            temporal,
            task_queue,
            BookingInput(
                booking=NewBooking(
                    booking_id=booking_id,
                    booking_number=f"MV-BK-W-{booking_id.hex[:8]}",
                    patient_id=patient_id,
                    hospital_id=hospital.id,
                    booking_type="treatment",
                    coordinator_id=people["coordinator"].user.id,
                    notes=marked("booking-notes"),
                    created_by_user_id=people["patient"].user.id,
                    created_by_role=Role.PATIENT.value,
                ),
                index=False,
            ),
        )
        starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
        await open_appointment(
            temporal,
            task_queue,
            AppointmentInput(
                appointment=NewAppointment(
                    appointment_id=appointment_id,
                    appointment_number=f"MV-AP-W-{appointment_id.hex[:8]}",
                    patient_id=patient_id,
                    doctor_id=doctor_id,
                    starts_at=starts,
                    chief_complaint=marked("complaint"),
                    created_by_user_id=people["coordinator"].user.id,
                    created_by_role=Role.COORDINATOR.value,
                    override=True,
                ),
                index=False,
            ),
        )
    else:
        booking = await add_booking(
            sessionmaker,
            patient_id,
            coordinator_id=people["coordinator"].user.id,
            hospital_id=hospital.id,
        )
        appointment = await add_appointment(sessionmaker, patient_id, doctor_id)
        booking_id, appointment_id = booking.id, appointment.id
    return World(
        sessionmaker, settings, people, hospital, other, booking_id, appointment_id, storage
    )


# ---- seeders, one per resource ---------------------------------------------------------------


@seeder("/users/{user_id}")
async def _user(w: World) -> Seeded:
    user = w.people["patient"].user
    return Seeded(
        {"user_id": str(user.id)},
        (str(user.id), user.email, str(user.last_name)),
        "patient",
        f"/users/{user.id}",
        refused=("doctor", "hospital_admin", "coordinator"),
    )


@seeder("/hospitals/{id}")
async def _hospital(w: World) -> Seeded:
    return Seeded(
        {"id": str(w.hospital.id)},
        (str(w.hospital.id), w.hospital.name),
        "hospital_admin",
        f"/hospitals/{w.hospital.id}",
        refused=("patient", "doctor", "coordinator"),
    )


@seeder("/hospitals/{id}/doctors/{doctorId}")
async def _hospital_doctor(w: World) -> Seeded:
    hospital = await seed(w, "/hospitals/{id}")
    doctor = w.doctor_id()
    return Seeded(
        {**hospital.params, "doctorId": str(doctor)},
        (str(w.hospital.id), str(doctor)),
        "hospital_admin",
        f"/hospitals/{w.hospital.id}/doctors",
        refused=("patient", "doctor", "coordinator"),
    )


@seeder("/doctors/{id}")
async def _doctor(w: World) -> Seeded:
    doctor = w.doctor_id()
    return Seeded(
        {"id": str(doctor)},
        (str(doctor), str(w.people["doctor"].user.last_name)),
        "doctor",
        f"/doctors/{doctor}",
    )


@seeder("/doctors/{id}/waitlist/{entry_id}")
async def _waitlist_entry(w: World) -> Seeded:
    doctor, today = w.doctor_id(), datetime.now(UTC).date()
    row = DoctorWaitlist(
        id=uuid.uuid4(),
        doctor_id=doctor,
        patient_id=w.patient_id(),
        date_from=today + timedelta(days=7),
        date_to=today + timedelta(days=9),
    )
    await w.add(row)
    return Seeded(
        {"id": str(doctor), "entry_id": str(row.id)},
        (str(row.id),),
        "patient",
        f"/doctors/{doctor}/waitlist",
    )


@seeder("/treatments/{id}")
async def _treatment(w: World) -> Seeded:
    row = Treatment(id=uuid.uuid4(), name=marked("treatment"))
    await w.add(row)
    return Seeded({"id": str(row.id)}, (str(row.id), row.name), "admin", f"/treatments/{row.id}")


@seeder("/packages/{id}")
async def _package(w: World) -> Seeded:
    row = Package(id=uuid.uuid4(), name=marked("package"), country="Turkey")
    await w.add(row)
    return Seeded({"id": str(row.id)}, (str(row.id), row.name), "admin", f"/packages/{row.id}")


@seeder("/packages/by-country/{country}")
async def _packages_of_country(w: World) -> Seeded:
    package = await seed(w, "/packages/{id}")
    return Seeded({"country": "Turkey"}, package.secrets, "admin", "/packages/by-country/Turkey")


@seeder("/laboratories/{id}")
async def _laboratory(w: World) -> Seeded:
    row = Laboratory(id=uuid.uuid4(), name=marked("lab"), hospital_id=w.hospital.id)
    await w.add(row)
    return Seeded(
        {"id": str(row.id)},
        (str(row.id), row.name),
        "hospital_admin",
        f"/laboratories/{row.id}",
        refused=("patient", "doctor", "coordinator"),
    )


@seeder("/insurance/{id}")
async def _insurance(w: World) -> Seeded:
    row = Insurance(id=uuid.uuid4(), provider_name=marked("insurer"))
    await w.add(row)
    return Seeded(
        {"id": str(row.id)}, (str(row.id), row.provider_name), "admin", f"/insurance/{row.id}"
    )


@seeder("/bookings/{booking_id}")
async def _booking(w: World) -> Seeded:
    async with w.sessionmaker() as db:
        row = await db.get(Booking, w.booking_id)
    assert row is not None
    return Seeded(
        {"booking_id": str(row.id)},
        (str(row.id), row.booking_number),
        "patient",
        f"/bookings/{row.id}",
        refused=("doctor",),
    )


@seeder("/appointments/{appointment_id}")
async def _appointment(w: World) -> Seeded:
    async with w.sessionmaker() as db:
        row = await db.get(Appointment, w.appointment_id)
    assert row is not None
    return Seeded(
        {"appointment_id": str(row.id)},
        (str(row.id), row.appointment_number),
        "patient",
        f"/appointments/{row.id}",
    )


@seeder("/patients/{id}")
async def _patient(w: World) -> Seeded:
    patient = w.patient_id()
    return Seeded(
        {"id": str(patient)},
        (str(patient), str(w.people["patient"].user.last_name)),
        "patient",
        f"/patients/{patient}",
    )


@seeder("/medical-records/{id}")
async def _medical_record(w: World) -> Seeded:
    row = MedicalRecord(
        id=uuid.uuid4(),
        patient_id=w.patient_id(),
        record_type="lab_report",
        title=marked("record"),
        file_url=await w.stored_file("record"),
        file_type="application/pdf",
        uploaded_by_user_id=w.user_id("patient"),
    )
    await w.add(row)
    return Seeded(
        {"id": str(row.id)},
        (str(row.id), row.title),
        "patient",
        f"/medical-records/{row.id}",
        refused=("hospital_admin",),
    )


@seeder("/prescriptions/{id}")
async def _prescription(w: World) -> Seeded:
    row = Prescription(
        id=uuid.uuid4(),
        appointment_id=w.appointment_id,
        patient_id=w.patient_id(),
        doctor_id=w.doctor_id(),
        instructions=marked("instructions"),
        medications=[{"name": marked("drug"), "dosage": "1 tablet"}],
    )
    await w.add(row)
    return Seeded(
        {"id": str(row.id)},
        (str(row.id), str(row.instructions), row.medications[0]["name"]),
        "patient",
        f"/prescriptions/{row.id}",
        refused=("hospital_admin",),
    )


@seeder("/lab-tests/{id}")
async def _lab_test(w: World) -> Seeded:
    lab = await seed(w, "/laboratories/{id}")
    row = LabTest(
        id=uuid.uuid4(),
        test_number="MV-LT-" + uuid.uuid4().hex[:10].upper(),
        patient_id=w.patient_id(),
        doctor_id=w.doctor_id(),
        lab_id=uuid.UUID(lab.params["id"]),
        test_name=marked("lab-test"),
        result_url=(result := await w.stored_file("lab-result")),
        status="completed" if result else "requested",
    )
    await w.add(row)
    return Seeded(
        {"id": str(row.id)},
        (str(row.id), row.test_number, str(row.test_name)),
        "patient",
        f"/lab-tests/{row.id}",
    )


@seeder("/media/{id}")
async def _media(w: World) -> Seeded:
    row = Media(
        id=uuid.uuid4(),
        file_name=marked("file") + ".pdf",
        file_url=await w.stored_file("media"),
        file_type="application/pdf",
        file_size=len(PDF),
        uploaded_by_user_id=w.user_id("patient"),
    )
    await w.add(row)
    return Seeded(
        {"id": str(row.id)},
        (str(row.id), str(row.file_name)),
        "patient",
        f"/media/{row.id}",
        refused=("doctor", "hospital_admin", "coordinator"),
    )


@seeder("/reviews/{id}")
async def _review(w: World) -> Seeded:
    row = Review(
        id=uuid.uuid4(),
        patient_id=w.patient_id(),
        doctor_id=w.doctor_id(),
        appointment_id=w.appointment_id,
        rating=4,
        review_text=marked("review"),
    )
    await w.add(row)
    return Seeded(
        {"id": str(row.id)},
        (str(row.id), str(row.review_text)),
        "patient",
        f"/reviews/{row.id}",
        refused=("doctor", "hospital_admin", "coordinator"),
    )


@seeder("/faqs/{id}")
async def _faq(w: World) -> Seeded:
    row = Faq(id=uuid.uuid4(), question=marked("question"), answer=marked("answer"))
    await w.add(row)
    return Seeded({"id": str(row.id)}, (str(row.id), row.question), "admin", f"/faqs/{row.id}")


@seeder("/subscription-plans/{id}")
async def _plan(w: World) -> Seeded:
    row = SubscriptionPlan(
        id=uuid.uuid4(), name=marked("plan"), target_user="hospital", price_monthly=Decimal("10")
    )
    await w.add(row)
    return Seeded(
        {"id": str(row.id)}, (str(row.id), row.name), "admin", f"/subscription-plans/{row.id}"
    )


@seeder("/subscriptions/{id}")
async def _subscription(w: World) -> Seeded:
    plan = SubscriptionPlan(
        id=uuid.uuid4(), name=marked("plan"), target_user="hospital", price_monthly=Decimal("10")
    )
    row = Subscription(
        id=uuid.uuid4(),
        plan_id=plan.id,
        hospital_id=w.hospital.id,
        billing_cycle="monthly",
        status="active",
        status_seq=2,
        amount=Decimal("10.00"),
        currency="USD",
        start_date=date(2030, 1, 31),
        end_date=date(2030, 2, 28),
    )
    await w.add(plan, row)
    return Seeded(
        {"id": str(row.id)},
        (str(row.id), plan.name),
        "hospital_admin",
        f"/subscriptions/{row.id}",
        refused=("doctor", "patient"),
    )


@seeder("/website/{id}")
async def _page(w: World) -> Seeded:
    row = WebsiteContent(
        id=uuid.uuid4(), page_slug=marked("page").lower(), title=marked("title"), content="x"
    )
    await w.add(row)
    return Seeded(
        {"id": str(row.id)}, (str(row.id), str(row.title)), "admin", f"/website/{row.page_slug}"
    )


@seeder("/website/{slug}")
async def _page_by_slug(w: World) -> Seeded:
    page = await seed(w, "/website/{id}")
    slug = page.read.rsplit("/", 1)[1]
    return Seeded({"slug": slug}, page.secrets, "admin", page.read)


@seeder("/payments/{id}")
async def _payment(w: World) -> Seeded:
    row = Payment(
        id=uuid.uuid4(),
        transaction_id="MV-TX-" + uuid.uuid4().hex[:12].upper(),
        booking_id=w.booking_id,
        patient_id=w.patient_id(),
        amount=Decimal("1234.56"),
        currency="USD",
        payment_gateway="stripe",
        status="completed",
    )
    await w.add(row)
    return Seeded(
        {"id": str(row.id)},
        (str(row.id), row.transaction_id),
        "patient",
        f"/payments/{row.id}",
        refused=("doctor", "hospital_admin"),
    )


@seeder("/invoices/{id}")
async def _invoice(w: World) -> Seeded:
    row = Invoice(
        id=uuid.uuid4(),
        invoice_number="MV-INV-" + uuid.uuid4().hex[:10].upper(),
        booking_id=w.booking_id,
        patient_id=w.patient_id(),
        hospital_id=w.hospital.id,
        total_amount=Decimal("1000.00"),
        final_amount=Decimal("1000.00"),
        currency="USD",
        invoice_date=date(2030, 1, 1),
        status="issued",
    )
    await w.add(row)
    return Seeded(
        {"id": str(row.id)},
        (str(row.id), row.invoice_number),
        "patient",
        f"/invoices/{row.id}",
        refused=("doctor", "hospital_admin"),
    )


async def subscription_money(w: World) -> dict[str, SubscriptionMoney]:
    """The charge and invoice (its PDF stored) of three subscriptions, by who holds each: the
    owners' hospital's (its admin), the owners' doctor's own (a doctor of that hospital), and
    the stranger hospital's. Each is its holder's to see, and staff's; nobody else's
    (access.sees_money)."""
    holders: dict[str, dict[str, uuid.UUID]] = {
        "hospital_admin": {"hospital_id": w.hospital.id},
        "doctor": {"doctor_id": w.doctor_id()},
        "other_hospital_admin": {"hospital_id": w.other_hospital.id},
    }
    return {
        who: await add_subscription_money(
            w.sessionmaker, mark=MARK, pdf_storage_key=await w.stored_file("invoice"), **holder
        )
        for who, holder in holders.items()
    }


@seeder("/coupons/{id}")
async def _coupon(w: World) -> Seeded:
    row = Coupon(
        id=uuid.uuid4(),
        code=marked("c").upper()[:40],
        discount_type="percentage",
        discount_value=Decimal("10"),
    )
    await w.add(row)
    return Seeded(
        {"id": str(row.id)}, (str(row.id), row.code), "admin", f"/coupons?search={row.code}"
    )


@seeder("/coupons/{code}")
async def _coupon_by_code(w: World) -> Seeded:
    coupon = await seed(w, "/coupons/{id}")
    code = coupon.secrets[1]
    return Seeded({"code": code}, coupon.secrets, "admin", f"/coupons/{code}?amount=100")


@seeder("/support/tickets/{id}")
async def _ticket(w: World) -> Seeded:
    row = SupportTicket(
        id=uuid.uuid4(),
        ticket_number="MV-TK-" + uuid.uuid4().hex[:8].upper(),
        user_id=w.user_id("patient"),
        subject=marked("subject"),
        description=marked("description"),
        priority="medium",
        status="open",
    )
    await w.add(row)
    return Seeded(
        {"id": str(row.id)},
        (str(row.id), row.ticket_number, row.subject),
        "patient",
        f"/support/tickets/{row.id}",
        refused=("doctor", "hospital_admin"),
    )


@seeder("/notifications/{notification_id}")
async def _notification(w: World) -> Seeded:
    row = Notification(
        id=uuid.uuid4(),
        user_id=w.user_id("patient"),
        title=marked("notice"),
        message=marked("message"),
        channel="in_app",
        dedupe_key="matrix:" + uuid.uuid4().hex,
    )
    await w.add(row)
    return Seeded(
        {"notification_id": str(row.id)},
        (str(row.id), str(row.title)),
        "patient",
        "/notifications",
        refused=("doctor", "hospital_admin", "coordinator"),
    )


@seeder("/translations/{translation_id}")
async def _translation(w: World) -> Seeded:
    row = Translation(
        id=uuid.uuid4(),
        entity_type="hospitals",
        entity_id=w.hospital.id,
        field_name="description",
        locale="de",
        translated_text=marked("translated"),
        status="in_review",
    )
    await w.add(row)
    return Seeded(
        {"translation_id": str(row.id)},
        (str(row.id), str(row.translated_text)),
        "admin",
        "/translations?locale=de",
    )
