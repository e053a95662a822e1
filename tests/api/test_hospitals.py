"""Hospitals: the public sees verified listings; admins and a hospital's own admin maintain them."""

from __future__ import annotations

from domain.access import Role
from domain.models.content import Translation
from tests.builders.catalog_builders import add_hospital
from tests.builders.users import create_user, headers_for


async def test_public_lists_only_verified_active_hospitals_with_filters(client, sessionmaker):
    await add_hospital(sessionmaker, name="Apollo Chennai", country="India", city="Chennai")
    await add_hospital(sessionmaker, name="Bumrungrad", country="Thailand", city="Bangkok")
    await add_hospital(sessionmaker, name="Unverified Clinic", is_verified=False)
    listed = await client.get("/hospitals", params={"sort": "name"})
    assert listed.status_code == 200
    assert [h["name"] for h in listed.json()["data"]] == ["Apollo Chennai", "Bumrungrad"]
    assert listed.json()["meta"]["total"] == 2
    india = await client.get("/hospitals", params={"country": "india"})
    assert [h["name"] for h in india.json()["data"]] == ["Apollo Chennai"]
    found = await client.get("/hospitals", params={"search": "bumrun"})
    assert [h["name"] for h in found.json()["data"]] == ["Bumrungrad"]
    assert (await client.get("/hospitals", params={"sort": "password"})).status_code == 422


async def test_unverified_hospital_is_hidden_from_public_but_not_its_admin(client, sessionmaker):
    owner = await create_user(sessionmaker, Role.HOSPITAL_ADMIN)
    hospital = await add_hospital(sessionmaker, is_verified=False, admin_user_id=owner.id)
    assert (await client.get(f"/hospitals/{hospital.id}")).status_code == 404
    headers = headers_for(owner)
    assert (await client.get(f"/hospitals/{hospital.id}", headers=headers)).status_code == 200


async def test_hospital_admin_edits_own_hospital_but_cannot_verify_it(client, sessionmaker):
    owner = await create_user(sessionmaker, Role.HOSPITAL_ADMIN)
    other_admin = await create_user(sessionmaker, Role.HOSPITAL_ADMIN)
    hospital = await add_hospital(sessionmaker, admin_user_id=owner.id)
    headers = headers_for(owner)
    edited = await client.patch(
        f"/hospitals/{hospital.id}",
        headers=headers,
        json={"description": "JCI accredited since 2005"},
    )
    assert edited.status_code == 200
    assert edited.json()["data"]["description"] == "JCI accredited since 2005"
    refused = await client.patch(
        f"/hospitals/{hospital.id}", headers=headers, json={"admin_user_id": str(other_admin.id)}
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "FIELD_NOT_ALLOWED"
    intruder = headers_for(other_admin)
    assert (
        await client.patch(
            f"/hospitals/{hospital.id}", headers=intruder, json={"description": "hacked"}
        )
    ).status_code == 403


async def test_admin_creates_hospital_and_patient_cannot(client, sessionmaker):
    admin = await create_user(sessionmaker, Role.ADMIN)
    patient = await create_user(sessionmaker)
    body = {
        "name": "Helios Berlin",
        "country": "Germany",
        "city": "Berlin",
        "latitude": "52.52000000",
        "email": "info@helios.example",
    }
    created = await client.post("/hospitals", json=body, headers=headers_for(admin))
    assert created.status_code == 201, created.text
    assert created.json()["data"]["latitude"] == "52.52000000"
    refused = await client.post("/hospitals", json=body, headers=headers_for(patient))
    assert refused.status_code == 403
    bad = await client.post(
        "/hospitals",
        json={**body, "latitude": "123"},
        headers=headers_for(admin),
    )
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "latitude"


async def test_catalog_text_follows_accept_language(client, sessionmaker):
    hospital = await add_hospital(sessionmaker, name="Acibadem", description="A leading hospital")
    async with sessionmaker() as db, db.begin():
        db.add(
            Translation(
                entity_type="hospitals",
                entity_id=hospital.id,
                field_name="description",
                locale="es",
                translated_text="Un hospital líder",
                published_text="Un hospital líder",
                status="approved",
            )
        )
    spanish = await client.get(
        f"/hospitals/{hospital.id}", headers={"Accept-Language": "es-ES,es;q=0.9"}
    )
    assert spanish.json()["data"]["description"] == "Un hospital líder"
    assert spanish.json()["data"]["name"] == "Acibadem"
    french = await client.get(f"/hospitals/{hospital.id}", params={"lang": "fr"})
    assert french.json()["data"]["description"] == "A leading hospital"
