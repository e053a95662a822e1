"""Treatments, packages, laboratories and insurance providers over HTTP."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from domain.access import Role
from domain.models.bookings import Booking
from domain.models.catalog import Insurance, Laboratory, Package, Treatment
from domain.models.content import Translation
from tests.builders.catalog_builders import (
    add_hospital,
    add_insurance,
    add_lab,
    add_offer,
    add_package,
    add_treatment,
    patient_of,
)
from tests.builders.users import create_user, headers_for


async def test_public_lists_active_treatments_with_filters_and_translations(client, sessionmaker):
    knee = await add_treatment(sessionmaker, name="Knee Replacement", category="Orthopedics")
    await add_treatment(sessionmaker, name="IVF", category="Fertility")
    await add_treatment(sessionmaker, name="Old Method", category="Orthopedics", is_active=False)
    async with sessionmaker() as db, db.begin():
        db.add(
            Translation(
                entity_type="treatments",
                entity_id=knee.id,
                field_name="name",
                locale="fr",
                translated_text="Prothèse du genou",
                published_text="Prothèse du genou",
                status="approved",
            )
        )
    listed = await client.get("/treatments", params={"sort": "name"})
    assert [t["name"] for t in listed.json()["data"]] == ["IVF", "Knee Replacement"]
    ortho = await client.get("/treatments", params={"category": "orthopedics"})
    assert [t["name"] for t in ortho.json()["data"]] == ["Knee Replacement"]
    assert (await client.get("/treatments", params={"search": "ivf"})).json()["meta"]["total"] == 1
    french = await client.get(f"/treatments/{knee.id}", headers={"Accept-Language": "fr"})
    assert french.json()["data"]["name"] == "Prothèse du genou"


async def test_admin_manages_treatments_and_sees_inactive_ones(client, sessionmaker):
    admin = await create_user(sessionmaker, Role.ADMIN)
    headers = headers_for(admin)
    created = await client.post(
        "/treatments",
        headers=headers,
        json={"name": "Rhinoplasty", "category": "Cosmetic", "duration_days": 7},
    )
    assert created.status_code == 201, created.text
    treatment_id = created.json()["data"]["id"]
    hidden = await client.patch(
        f"/treatments/{treatment_id}", headers=headers, json={"is_active": False}
    )
    assert hidden.status_code == 200
    assert (await client.get(f"/treatments/{treatment_id}")).status_code == 404
    assert (await client.get(f"/treatments/{treatment_id}", headers=headers)).status_code == 200
    bad = await client.post("/treatments", headers=headers, json={"name": "X", "duration_days": -1})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["field"] == "duration_days"
    assert (await client.delete(f"/treatments/{treatment_id}", headers=headers)).status_code == 200


async def test_deleting_a_booked_treatment_deactivates_it_instead(client, sessionmaker):
    admin = await create_user(sessionmaker, Role.ADMIN)
    treatment = await add_treatment(sessionmaker)
    patient = await patient_of(sessionmaker, await create_user(sessionmaker))
    async with sessionmaker() as db, db.begin():
        db.add(
            Booking(
                id=uuid.uuid4(),
                booking_number="BK-1",
                patient_id=patient.id,
                treatment_id=treatment.id,
            )
        )
    deleted = await client.delete(f"/treatments/{treatment.id}", headers=headers_for(admin))
    assert deleted.status_code == 200
    assert "deactivated" in deleted.json()["message"]
    assert (await client.get(f"/treatments/{treatment.id}")).status_code == 404
    async with sessionmaker() as db:
        assert (await db.get(Treatment, treatment.id)).is_active is False


async def test_treatment_hospitals_lists_listed_offers_cheapest_first(client, sessionmaker):
    treatment = await add_treatment(sessionmaker, name="Dental Implant")
    cheap = await add_hospital(sessionmaker, name="Cheap Clinic", country="Turkey")
    dear = await add_hospital(sessionmaker, name="Dear Clinic", country="Germany")
    unlisted = await add_hospital(sessionmaker, name="Unlisted", is_verified=False)
    paused = await add_hospital(sessionmaker, name="Paused Offer")
    await add_offer(sessionmaker, dear, treatment, base_price=1200, currency="EUR")
    await add_offer(sessionmaker, cheap, treatment, base_price=400, currency="USD")
    await add_offer(sessionmaker, unlisted, treatment, base_price=10)
    await add_offer(sessionmaker, paused, treatment, base_price=20, is_available=False)
    offers = await client.get(f"/treatments/{treatment.id}/hospitals")
    assert offers.status_code == 200
    data = offers.json()["data"]
    assert [(o["hospital"]["name"], o["base_price"]) for o in data] == [
        ("Cheap Clinic", "400.00"),
        ("Dear Clinic", "1200.00"),
    ]
    assert "bank_details" not in data[0]["hospital"]
    german = await client.get(
        f"/treatments/{treatment.id}/hospitals", params={"country": "germany"}
    )
    assert [o["hospital"]["name"] for o in german.json()["data"]] == ["Dear Clinic"]


async def test_packages_filter_by_country_duration_and_price(client, sessionmaker):
    await add_package(
        sessionmaker, name="Istanbul Smile", country="Turkey", duration_days=5, base_price=1500
    )
    await add_package(
        sessionmaker, name="Antalya Knee", country="Turkey", duration_days=14, base_price="4999.99"
    )
    await add_package(
        sessionmaker, name="Delhi Heart", country="India", duration_days=10, base_price=6000
    )
    await add_package(sessionmaker, name="Retired", country="Turkey", is_active=False)

    async def names(path="/packages", **params):
        response = await client.get(path, params=params)
        assert response.status_code == 200, response.text
        return sorted(p["name"] for p in response.json()["data"])

    assert await names(country="turkey") == ["Antalya Knee", "Istanbul Smile"]
    assert await names(duration=10) == ["Delhi Heart", "Istanbul Smile"]
    assert await names(price_min="1500.00", price_max="4999.99") == [
        "Antalya Knee",
        "Istanbul Smile",
    ]
    assert await names(price_max="4999.98") == ["Istanbul Smile"]
    assert await names("/packages/by-country/Turkey") == ["Antalya Knee", "Istanbul Smile"]
    assert await names("/packages/by-country/india") == ["Delhi Heart"]
    by_price = await client.get("/packages", params={"sort": "-base_price"})
    assert by_price.json()["data"][0]["name"] == "Delhi Heart"
    bad = await client.get("/packages", params={"price_min": "abc"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "price_min"


async def test_admin_creates_a_package_with_valid_money_only(client, sessionmaker):
    admin = await create_user(sessionmaker, Role.ADMIN)
    hospital = await add_hospital(sessionmaker)
    headers = headers_for(admin)
    body = {
        "name": "Bangkok Checkup",
        "country": "Thailand",
        "duration_days": 3,
        "base_price": "899.00",
        "currency": "thb",
        "inclusions": ["Full body checkup", "Hotel"],
        "hospital_ids": [str(hospital.id)],
        "accommodation_included": True,
        "seasonal_pricing": {"high": 1.2},
    }
    created = await client.post("/packages", headers=headers, json=body)
    assert created.status_code == 201, created.text
    package = created.json()["data"]
    assert package["currency"] == "THB" and package["hospital_ids"] == [str(hospital.id)]
    spanish = await client.get(f"/packages/{package['id']}", params={"lang": "es"})
    assert spanish.json()["data"]["name"] == "Bangkok Checkup"
    for field, value in [("base_price", "-0.01"), ("currency", "BAHT"), ("hospital_ids", ["x"])]:
        refused = await client.post("/packages", headers=headers, json={**body, field: value})
        assert refused.status_code == 422, field
        assert refused.json()["error"]["details"][0]["field"].startswith(field)
    async with sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(Package)) == 1


async def test_hospital_admin_manages_own_hospitals_labs_only(client, sessionmaker):
    owner = await create_user(sessionmaker, Role.HOSPITAL_ADMIN)
    hospital = await add_hospital(sessionmaker, admin_user_id=owner.id)
    other = await add_hospital(sessionmaker, name="Someone Else's")
    headers = headers_for(owner)
    created = await client.post(
        "/laboratories",
        headers=headers,
        json={"name": "Cardio Lab", "hospital_id": str(hospital.id), "city": "Istanbul"},
    )
    assert created.status_code == 201, created.text
    lab_id = created.json()["data"]["id"]
    elsewhere = await client.post(
        "/laboratories", headers=headers, json={"name": "Sneaky", "hospital_id": str(other.id)}
    )
    assert elsewhere.status_code == 403
    assert elsewhere.json()["error"]["code"] == "NOT_HOSPITAL_ADMIN"
    standalone = await client.post("/laboratories", headers=headers, json={"name": "Free Lab"})
    assert standalone.status_code == 403
    moved = await client.patch(
        f"/laboratories/{lab_id}", headers=headers, json={"hospital_id": str(other.id)}
    )
    assert moved.status_code == 403
    closed = await client.patch(
        f"/laboratories/{lab_id}", headers=headers, json={"is_active": False}
    )
    assert closed.status_code == 200
    # Still visible to its hospital's admin, hidden from other users.
    assert (await client.get(f"/laboratories/{lab_id}", headers=headers)).status_code == 200
    patient = headers_for(await create_user(sessionmaker))
    assert (await client.get(f"/laboratories/{lab_id}", headers=patient)).status_code == 404
    async with sessionmaker() as db:
        lab = await db.get(Laboratory, lab_id)
        assert lab.hospital_id == hospital.id
        assert await db.scalar(select(func.count()).select_from(Laboratory)) == 1


async def test_laboratories_need_a_login_and_filter_by_hospital(client, sessionmaker):
    hospital = await add_hospital(sessionmaker)
    await add_lab(sessionmaker, name="In Hospital", hospital_id=hospital.id, city="Istanbul")
    await add_lab(sessionmaker, name="Standalone", city="Ankara")
    assert (await client.get("/laboratories")).status_code == 401
    headers = headers_for(await create_user(sessionmaker))
    mine = await client.get(
        "/laboratories", headers=headers, params={"hospital_id": str(hospital.id)}
    )
    assert [lab["name"] for lab in mine.json()["data"]] == ["In Hospital"]
    ankara = await client.get("/laboratories", headers=headers, params={"city": "ANKARA"})
    assert [lab["name"] for lab in ankara.json()["data"]] == ["Standalone"]


async def test_insurance_is_read_by_logged_in_users_and_written_by_admins(client, sessionmaker):
    admin = await create_user(sessionmaker, Role.ADMIN)
    await add_insurance(sessionmaker, provider_name="Bupa Global", country="UK")
    await add_insurance(sessionmaker, provider_name="Closed Insurer", is_active=False)
    assert (await client.get("/insurance")).status_code == 401
    patient = headers_for(await create_user(sessionmaker))
    listed = await client.get("/insurance", headers=patient)
    assert [i["provider_name"] for i in listed.json()["data"]] == ["Bupa Global"]
    headers = headers_for(admin)
    assert (await client.get("/insurance", headers=headers)).json()["meta"]["total"] == 2
    created = await client.post(
        "/insurance",
        headers=headers,
        json={
            "provider_name": "Cigna",
            "contact_email": "care@cigna.example",
            "coverage_details": {"outpatient": True, "limit_usd": 100000},
        },
    )
    assert created.status_code == 201, created.text
    bad = await client.post(
        "/insurance", headers=headers, json={"provider_name": "X", "contact_email": "nope"}
    )
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "contact_email"
    async with sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(Insurance)) == 3
        assert await db.scalar(select(func.count()).select_from(Treatment)) == 0
