"""Who sees which payment and invoice: one rule (domain.access.sees_money, its SQL
policies.money_scope) for GET /payments, GET /payments/{id}, GET /patients/{id}/payments, GET
/invoices, GET /invoices/{id} and what is done by id (refund, PDF, send). A coordinator sees the
money of the bookings assigned to them and the teleconsultation money of those bookings'
patients, no other; a subscription's holder (its hospital's admin, its doctor) sees that
subscription's charges and invoices and nothing of patients' money; the lists and the details
agree for every caller."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select

from api.policies import person_of
from domain.access import PATIENT_OR_STAFF, MoneyParties, Role, sees_money
from domain.models.bookings import Booking
from domain.models.catalog import Doctor, Hospital
from domain.models.payments import Invoice, Payment
from domain.models.subscriptions import Subscription
from domain.models.users import Patient
from tests.builders.care_builders import Person, add_appointment, add_booking, person
from tests.builders.subscription_money import add_subscription_money


async def add_money(
    sessionmaker, patient_id: uuid.UUID, *, booking_id=None, appointment_id=None
) -> tuple[Payment, Invoice]:
    payment = Payment(
        id=uuid.uuid4(),
        transaction_id="MV-TX-" + uuid.uuid4().hex[:12].upper(),
        booking_id=booking_id,
        appointment_id=appointment_id,
        patient_id=patient_id,
        amount=Decimal("250.00"),
        currency="USD",
        payment_gateway="stripe",
        status="completed",
    )
    invoice = Invoice(
        id=uuid.uuid4(),
        invoice_number="MV-INV-" + uuid.uuid4().hex[:10].upper(),
        booking_id=booking_id,
        appointment_id=appointment_id,
        patient_id=patient_id,
        total_amount=Decimal("250.00"),
        final_amount=Decimal("250.00"),
        currency="USD",
        invoice_date=date(2030, 1, 1),
        status="issued",
    )
    async with sessionmaker() as db, db.begin():
        db.add(payment)
        await db.flush()
        db.add(invoice)
    return payment, invoice


async def ids_listed(client: httpx.AsyncClient, path: str, who: Person) -> set[str]:
    response = await client.get(path, params={"limit": 100}, headers=who.headers)
    assert response.status_code == 200, response.text
    return {row["id"] for row in response.json()["data"]}


async def parties_of(sessionmaker, row: Payment | Invoice) -> MoneyParties:
    """What the pure predicate needs to know about one row, read as stored."""
    async with sessionmaker() as db:
        patient_user = await db.scalar(select(Patient.user_id).where(Patient.id == row.patient_id))
        held = await db.get(Subscription, row.subscription_id) if row.subscription_id else None
        hospital_admin = (
            await db.scalar(select(Hospital.admin_user_id).where(Hospital.id == held.hospital_id))
            if held is not None and held.hospital_id is not None
            else None
        )
        doctor_user = (
            await db.scalar(select(Doctor.user_id).where(Doctor.id == held.doctor_id))
            if held is not None and held.doctor_id is not None
            else None
        )
        booking_coordinator = (
            await db.scalar(select(Booking.coordinator_id).where(Booking.id == row.booking_id))
            if row.booking_id
            else None
        )
        coordinators = await db.scalars(
            select(Booking.coordinator_id).where(
                Booking.patient_id == row.patient_id, Booking.coordinator_id.is_not(None)
            )
        )
        return MoneyParties(
            patient_user_id=patient_user,
            booking_coordinator_id=booking_coordinator,
            for_booking=row.booking_id is not None,
            patient_coordinator_ids=frozenset(c for c in coordinators if c is not None),
            subscription_hospital_admin_user_id=hospital_admin,
            subscription_doctor_user_id=doctor_user,
        )


async def test_lists_and_details_of_money_agree_and_a_coordinator_sees_only_their_bookings(
    client, sessionmaker, settings
):
    new = {role: await person(sessionmaker, settings, role) for role in Role}
    patient, admin = new[Role.PATIENT], new[Role.ADMIN]
    coordinator, doctor = new[Role.COORDINATOR], new[Role.DOCTOR]
    other_patient = await person(sessionmaker, settings, Role.PATIENT)
    other_coordinator = await person(sessionmaker, settings, Role.COORDINATOR)
    assert patient.patient_id and other_patient.patient_id and doctor.doctor_id

    assigned = await add_booking(
        sessionmaker, patient.patient_id, coordinator_id=coordinator.user.id
    )
    queued = await add_booking(sessionmaker, other_patient.patient_id)  # nobody's yet
    theirs = await add_booking(
        sessionmaker, other_patient.patient_id, coordinator_id=other_coordinator.user.id
    )
    consult = await add_appointment(sessionmaker, patient.patient_id, doctor.doctor_id)
    second_doctor = await person(sessionmaker, settings, Role.DOCTOR)  # (the same hour)
    assert second_doctor.doctor_id
    other_consult = await add_appointment(
        sessionmaker, other_patient.patient_id, second_doctor.doctor_id
    )
    money = {
        "assigned": await add_money(sessionmaker, patient.patient_id, booking_id=assigned.id),
        "queued": await add_money(sessionmaker, other_patient.patient_id, booking_id=queued.id),
        "theirs": await add_money(sessionmaker, other_patient.patient_id, booking_id=theirs.id),
        "consult": await add_money(sessionmaker, patient.patient_id, appointment_id=consult.id),
        "other_consult": await add_money(
            sessionmaker, other_patient.patient_id, appointment_id=other_consult.id
        ),
    }
    other_hospital_admin = await person(sessionmaker, settings, Role.HOSPITAL_ADMIN)
    unapproved_doctor = await person(sessionmaker, settings, Role.DOCTOR, approved=False)
    hospital_admin = new[Role.HOSPITAL_ADMIN]
    assert unapproved_doctor.doctor_id
    hospitals = [
        Hospital(id=uuid.uuid4(), name=f"H{i}", admin_user_id=admin_of.user.id)
        for i, admin_of in enumerate((hospital_admin, other_hospital_admin))
    ]
    async with sessionmaker() as db, db.begin():
        db.add_all(hospitals)
    for name, holder in (
        ("hospital_plan", {"hospital_id": hospitals[0].id}),
        ("other_hospital_plan", {"hospital_id": hospitals[1].id}),
        ("doctor_plan", {"doctor_id": doctor.doctor_id}),
        ("other_doctor_plan", {"doctor_id": second_doctor.doctor_id}),
        ("unapproved_doctor_plan", {"doctor_id": unapproved_doctor.doctor_id}),
    ):
        held = await add_subscription_money(sessionmaker, **holder)
        money[name] = (held.payment, held.invoice)
    payments = {name: pay for name, (pay, _) in money.items()}
    invoices = {name: inv for name, (_, inv) in money.items()}

    def named(rows: dict[str, Any], *names: str) -> set[str]:
        return {str(rows[n].id) for n in names}

    # The coordinator: their booking's money and their patient's teleconsultation money only.
    assert await ids_listed(client, "/payments", coordinator) == named(
        payments, "assigned", "consult"
    )
    assert await ids_listed(client, "/invoices", coordinator) == named(
        invoices, "assigned", "consult"
    )
    assert await ids_listed(client, "/payments", other_coordinator) == named(
        payments, "theirs", "other_consult"
    )

    callers = {
        "patient": patient,
        "other_patient": other_patient,
        "coordinator": coordinator,
        "other_coordinator": other_coordinator,
        "admin": admin,
        "hospital_admin": hospital_admin,
        "other_hospital_admin": other_hospital_admin,
        "doctor": doctor,
        "second_doctor": second_doctor,
        "unapproved_doctor": unapproved_doctor,
    }
    for who, caller in callers.items():
        listed_payments = await ids_listed(client, "/payments", caller)
        listed_invoices = await ids_listed(client, "/invoices", caller)
        for name in money:
            payment, invoice = payments[name], invoices[name]
            # The pure rule, the list and the detail say the same thing.
            expected = sees_money(person_of(caller.user), await parties_of(sessionmaker, payment))
            detail = await client.get(f"/payments/{payment.id}", headers=caller.headers)
            assert detail.status_code == (200 if expected else 404), (who, name, detail.text)
            assert (str(payment.id) in listed_payments) is expected, (who, name)
            of_patient = await client.get(
                f"/patients/{payment.patient_id or patient.patient_id}/payments",
                params={"limit": 100},
                headers=caller.headers,
            )
            if of_patient.status_code == 200:
                # A subscription's charge is no patient's: in no patient's list.
                shown = {row["id"] for row in of_patient.json()["data"]}
                in_list = expected and payment.patient_id is not None
                assert (str(payment.id) in shown) is in_list, (who, name)
            else:  # the patient is not the caller's to look up at all
                assert of_patient.status_code in (403, 404), (who, name)
                assert not expected or payment.patient_id is None, (who, name)
            one = await client.get(f"/invoices/{invoice.id}", headers=caller.headers)
            assert one.status_code == (200 if expected else 404), (who, name, one.text)
            assert (str(invoice.id) in listed_invoices) is expected, (who, name)
            if not expected:
                for method, path, body in (
                    ("GET", f"/invoices/{invoice.id}/pdf", None),
                    ("POST", f"/invoices/{invoice.id}/send", None),
                    ("GET", f"/payments/{payment.id}/status", None),
                ):
                    refused = await client.request(method, path, headers=caller.headers, json=body)
                    # Hospital admins and doctors send no invoice at all (403, before the id).
                    sender = caller.user.user_type in PATIENT_OR_STAFF or method == "GET"
                    assert refused.status_code == (404 if sender else 403), (
                        who,
                        method,
                        path,
                        refused.text,
                    )
                    assert str(invoice.invoice_number) not in refused.text
    assert (await ids_listed(client, "/payments", admin)) >= named(payments, *money)
    # Walked by cursor, two at a time: the same payments, newest first, each once.
    whole = await client.get("/payments", params={"limit": 100}, headers=admin.headers)
    walked: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    for _ in range(100):
        step = (await client.get("/payments", params=params, headers=admin.headers)).json()
        walked += [row["id"] for row in step["data"]]
        if step["meta"]["next"] is None:
            break
        params = {"limit": 2, "after": step["meta"]["next"]}
    assert walked == [row["id"] for row in whole.json()["data"]]
    assert whole.json()["meta"]["total"] == len(walked) and whole.json()["meta"]["total_exact"]

    # A refund is asked of a payment by its id: another coordinator's answers 404 before the
    # body is read; the coordinator's own reaches the payment (here: no workflow behind it).
    for name in ("queued", "theirs", "other_consult"):
        refused = await client.post(
            f"/payments/{payments[name].id}/refund",
            headers=coordinator.headers,
            json={"amount": "1.00", "reason": "x"},
        )
        assert refused.status_code == 404, (name, refused.text)

    # Nobody makes a payment they may not read: the coordinator pays only for what they see.
    for target, named_as in (
        ({"booking_id": str(queued.id)}, "BOOKING_NOT_FOUND"),
        ({"booking_id": str(theirs.id)}, "BOOKING_NOT_FOUND"),
        ({"appointment_id": str(other_consult.id)}, "APPOINTMENT_NOT_FOUND"),
    ):
        body = {**target, "currency": "USD", "payment_gateway": "stripe"}
        refused = await client.post("/payments", headers=coordinator.headers, json=body)
        assert refused.status_code == 404, (target, refused.text)
        assert refused.json()["error"]["code"] == named_as
    for target in ({"booking_id": str(assigned.id)}, {"appointment_id": str(consult.id)}):
        body = {**target, "currency": "USD", "payment_gateway": "stripe"}
        allowed = await client.post("/payments", headers=coordinator.headers, json=body)
        # Past the access check: this test stack has no gateway to pay with.
        assert allowed.status_code == 400, (target, allowed.text)
        assert allowed.json()["error"]["code"] == "GATEWAY_NOT_CONFIGURED"

    # A subscription's holder sees its charges and invoices, and nothing of patients' money:
    # the hospital admin their hospital's, a doctor their own (once approved).
    subscription_money = {
        "hospital_admin": ["hospital_plan"],
        "other_hospital_admin": ["other_hospital_plan"],
        "doctor": ["doctor_plan"],
        "second_doctor": ["other_doctor_plan"],
        "unapproved_doctor": [],
    }
    for who, names in subscription_money.items():
        caller = callers[who]
        assert await ids_listed(client, "/payments", caller) == named(payments, *names), who
        assert await ids_listed(client, "/invoices", caller) == named(invoices, *names), who
        # They read their invoices; the subscription's workflow mails them, not they.
        for name in names:
            sent = await client.post(f"/invoices/{invoices[name].id}/send", headers=caller.headers)
            assert sent.status_code == 403, (who, sent.text)
            assert sent.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
