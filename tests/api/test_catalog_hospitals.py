"""A hospital's doctors and treatments, and its verification, over HTTP."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from domain.access import Role
from domain.models.catalog import HospitalDoctor, HospitalTreatment
from domain.models.content import Translation
from tests.builders.catalog_builders import (
    add_doctor,
    add_hospital,
    add_offer,
    add_treatment,
    affiliate,
)
from tests.builders.users import create_user, headers_for


async def test_hospital_admin_affiliates_a_doctor_and_the_public_sees_name_and_specialty(
    client, sessionmaker
):
    owner = await create_user(sessionmaker, Role.HOSPITAL_ADMIN)
    hospital = await add_hospital(sessionmaker, admin_user_id=owner.id)
    _, doctor = await add_doctor(
        sessionmaker, first_name="Mehmet", last_name="Oz", specialty="Cardiology"
    )
    headers = headers_for(owner)
    added = await client.post(
        f"/hospitals/{hospital.id}/doctors",
        headers=headers,
        json={
            "doctor_id": str(doctor.id),
            "department": "Cardiac Surgery",
            "is_primary": True,
            "start_date": "2024-01-15",
        },
    )
    assert added.status_code == 201, added.text
    assert added.json()["data"]["doctor"]["last_name"] == "Oz"
    again = await client.post(
        f"/hospitals/{hospital.id}/doctors", headers=headers, json={"doctor_id": str(doctor.id)}
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "HOSPITAL_DOCTOR_EXISTS"

    listed = await client.get(f"/hospitals/{hospital.id}/doctors")
    assert listed.status_code == 200
    assert listed.json()["meta"]["total"] == 1
    (item,) = listed.json()["data"]
    assert item["department"] == "Cardiac Surgery" and item["is_primary"] is True
    assert item["start_date"] == "2024-01-15"
    assert item["doctor"]["first_name"] == "Mehmet"
    assert item["doctor"]["specialty"] == "Cardiology"
    assert "email" not in item["doctor"] and "user_id" not in item["doctor"]


async def test_hospital_doctor_list_shows_unapproved_doctors_only_to_the_hospital_managers(
    client, sessionmaker
):
    owner = await create_user(sessionmaker, Role.HOSPITAL_ADMIN)
    hospital = await add_hospital(sessionmaker, admin_user_id=owner.id)
    _, approved = await add_doctor(sessionmaker, last_name="Approved")
    _, pending = await add_doctor(sessionmaker, last_name="Pending", approved=False)
    await affiliate(sessionmaker, hospital, approved)
    await affiliate(sessionmaker, hospital, pending)
    public = await client.get(f"/hospitals/{hospital.id}/doctors")
    assert [d["doctor"]["last_name"] for d in public.json()["data"]] == ["Approved"]
    managed = await client.get(f"/hospitals/{hospital.id}/doctors", headers=headers_for(owner))
    assert managed.json()["meta"]["total"] == 2


async def test_affiliating_an_unknown_doctor_is_404_and_dates_must_be_in_order(
    client, sessionmaker
):
    admin = await create_user(sessionmaker, Role.ADMIN)
    hospital = await add_hospital(sessionmaker)
    _, doctor = await add_doctor(sessionmaker)
    headers = headers_for(admin)
    unknown = await client.post(
        f"/hospitals/{hospital.id}/doctors", headers=headers, json={"doctor_id": str(uuid.uuid4())}
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "DOCTOR_NOT_FOUND"
    backwards = await client.post(
        f"/hospitals/{hospital.id}/doctors",
        headers=headers,
        json={"doctor_id": str(doctor.id), "start_date": "2024-05-01", "end_date": "2024-01-01"},
    )
    assert backwards.status_code == 400
    assert backwards.json()["error"]["details"]["field"] == "end_date"
    async with sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(HospitalDoctor)) == 0


async def test_removing_a_doctor_ends_only_that_affiliation(client, sessionmaker):
    owner = await create_user(sessionmaker, Role.HOSPITAL_ADMIN)
    hospital = await add_hospital(sessionmaker, admin_user_id=owner.id)
    other_hospital = await add_hospital(sessionmaker, name="Memorial")
    _, doctor = await add_doctor(sessionmaker)
    await affiliate(sessionmaker, hospital, doctor)
    await affiliate(sessionmaker, other_hospital, doctor)
    headers = headers_for(owner)
    removed = await client.delete(f"/hospitals/{hospital.id}/doctors/{doctor.id}", headers=headers)
    assert removed.status_code == 200
    assert (await client.get(f"/hospitals/{hospital.id}/doctors")).json()["meta"]["total"] == 0
    assert (await client.get(f"/hospitals/{other_hospital.id}/doctors")).json()["meta"][
        "total"
    ] == 1
    gone = await client.delete(f"/hospitals/{hospital.id}/doctors/{doctor.id}", headers=headers)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "HOSPITAL_DOCTOR_NOT_FOUND"


async def test_hospital_admin_offers_a_treatment_at_a_price_once(client, sessionmaker):
    owner = await create_user(sessionmaker, Role.HOSPITAL_ADMIN)
    hospital = await add_hospital(sessionmaker, admin_user_id=owner.id)
    treatment = await add_treatment(sessionmaker, name="Hair Transplant")
    headers = headers_for(owner)
    body = {
        "treatment_id": str(treatment.id),
        "base_price": "2450.50",
        "currency": "eur",
        "duration_days": 3,
        "success_rate": "97.5",
        "description": "FUE technique",
        "inclusions": ["Hotel", "Transfers"],
        "exclusions": ["Flights"],
    }
    added = await client.post(f"/hospitals/{hospital.id}/treatments", headers=headers, json=body)
    assert added.status_code == 201, added.text
    offer = added.json()["data"]
    assert offer["base_price"] == "2450.50" and offer["currency"] == "EUR"
    assert offer["success_rate"] == "97.50"
    assert offer["treatment"]["name"] == "Hair Transplant"
    again = await client.post(f"/hospitals/{hospital.id}/treatments", headers=headers, json=body)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "HOSPITAL_TREATMENT_EXISTS"

    listed = await client.get(f"/hospitals/{hospital.id}/treatments")
    assert listed.json()["meta"]["total"] == 1
    assert listed.json()["data"][0]["inclusions"] == ["Hotel", "Transfers"]


async def test_invalid_offers_name_the_field_and_store_nothing(client, sessionmaker):
    admin = await create_user(sessionmaker, Role.ADMIN)
    hospital = await add_hospital(sessionmaker)
    treatment = await add_treatment(sessionmaker)
    headers = headers_for(admin)
    good = {"treatment_id": str(treatment.id), "base_price": "100.00", "currency": "USD"}
    for field, value in [
        ("base_price", "-1"),
        ("base_price", "1.234"),
        ("currency", "US"),
        ("currency", "DOLLAR"),
        ("currency", "U$D"),
        ("success_rate", "100.5"),
        ("duration_days", -2),
    ]:
        refused = await client.post(
            f"/hospitals/{hospital.id}/treatments", headers=headers, json={**good, field: value}
        )
        assert refused.status_code == 422, (field, value)
        assert refused.json()["error"]["details"][0]["field"] == field
    async with sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(HospitalTreatment)) == 0


async def test_inactive_treatment_cannot_be_offered_and_unavailable_offers_are_hidden(
    client, sessionmaker
):
    owner = await create_user(sessionmaker, Role.HOSPITAL_ADMIN)
    hospital = await add_hospital(sessionmaker, admin_user_id=owner.id)
    retired = await add_treatment(sessionmaker, name="Retired", is_active=False)
    paused = await add_treatment(sessionmaker, name="Paused")
    await add_offer(sessionmaker, hospital, paused, is_available=False)
    headers = headers_for(owner)
    refused = await client.post(
        f"/hospitals/{hospital.id}/treatments",
        headers=headers,
        json={"treatment_id": str(retired.id)},
    )
    assert refused.status_code == 404
    assert (await client.get(f"/hospitals/{hospital.id}/treatments")).json()["meta"]["total"] == 0
    mine = await client.get(f"/hospitals/{hospital.id}/treatments", headers=headers)
    assert mine.json()["meta"]["total"] == 1


async def test_hospital_treatments_follow_the_requested_language(client, sessionmaker):
    hospital = await add_hospital(sessionmaker)
    treatment = await add_treatment(sessionmaker, name="Knee Replacement")
    await add_offer(sessionmaker, hospital, treatment)
    async with sessionmaker() as db, db.begin():
        db.add(
            Translation(
                entity_type="treatments",
                entity_id=treatment.id,
                field_name="name",
                locale="es",
                translated_text="Reemplazo de rodilla",
                published_text="Reemplazo de rodilla",
                status="approved",
            )
        )
    spanish = await client.get(f"/hospitals/{hospital.id}/treatments", params={"lang": "es"})
    assert spanish.json()["data"][0]["treatment"]["name"] == "Reemplazo de rodilla"


async def test_admin_verifies_a_hospital_which_then_becomes_public(client, sessionmaker):
    admin = await create_user(sessionmaker, Role.ADMIN)
    hospital = await add_hospital(sessionmaker, is_verified=False)
    assert (await client.get(f"/hospitals/{hospital.id}")).status_code == 404
    headers = headers_for(admin)
    verified = await client.patch(f"/hospitals/{hospital.id}/verify", headers=headers)
    assert verified.status_code == 200, verified.text
    assert verified.json()["data"]["is_verified"] is True
    assert (await client.get(f"/hospitals/{hospital.id}")).status_code == 200
    undone = await client.patch(
        f"/hospitals/{hospital.id}/verify", headers=headers, json={"is_verified": False}
    )
    assert undone.json()["data"]["is_verified"] is False
    assert (await client.get(f"/hospitals/{hospital.id}")).status_code == 404


async def test_sub_resources_of_an_unlisted_hospital_are_404_to_the_public(client, sessionmaker):
    hospital = await add_hospital(sessionmaker, is_verified=False)
    assert (await client.get(f"/hospitals/{hospital.id}/doctors")).status_code == 404
    assert (await client.get(f"/hospitals/{hospital.id}/treatments")).status_code == 404
