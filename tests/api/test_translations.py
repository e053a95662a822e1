"""Translations over HTTP, with the production worker and LibreTranslate against a local peer:
content an admin writes is machine-translated into the platform's locales and waits in the
review queue (staff only); reviewers approve, reject (the engine is asked again) or write a
translation themselves (approved on save); the public sees approved text, or auto-published
general text where the setting allows, and the source per field otherwise (`fallback_fields`);
clinical text is never published without a person; Arabic and Hindi come back exactly."""

from __future__ import annotations

import unicodedata
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import func, select

from domain.access import Role
from domain.models.content import Translation, TranslationStatusHistory
from domain.translation import source_hash
from tests.builders.catalog_builders import add_treatment
from tests.builders.helpers import eventually
from tests.builders.users import create_user, headers_for

if TYPE_CHECKING:
    from tests.fixtures.translation_fixtures import Peer

pytest_plugins = ["tests.fixtures.translation_fixtures"]
pytestmark = pytest.mark.usefixtures("worker")

LOCALES = ["ar", "hi", "es", "fr"]
KNEE = {
    "name": "Knee Replacement",
    "description": "A new knee joint.",
    "preparation": "Stop eating at midnight.",
}
# Right-to-left text with a right-to-left mark, and Hindi with its combining vowel signs, both
# already in NFC: stored and served byte for byte.
ARABIC = "استبدال مفصل الركبة\u200f (جراحة)"
HINDI = "घुटने का नया जोड़। दो हफ़्ते आराम करें।"


@pytest.fixture
def overrides() -> dict[str, Any]:
    """Settings a test changes (parametrize `overrides` to set them)."""
    return {}


@pytest.fixture
def settings(make_settings, libretranslate: Peer, overrides: dict[str, Any]):
    """The API's and the worker's settings: LibreTranslate is the engine, at a rate that does
    not slow the tests (the limit itself: tests/activities/test_translators.py)."""
    values: dict[str, Any] = {
        "translation_engine": "libretranslate",
        "libretranslate_url": libretranslate.url,
        "translation_rate_per_second": 100,
    }
    return make_settings(**(values | overrides))


@pytest.fixture
async def staff(sessionmaker) -> dict[str, dict[str, str]]:
    people = {
        role: await create_user(sessionmaker, role)
        for role in (Role.ADMIN, Role.COORDINATOR, Role.PATIENT, Role.DOCTOR)
    }
    return {role.value: headers_for(user) for role, user in people.items()}


async def _queue(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> Any:
    response = await client.get("/translations", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def _translated(
    client: httpx.AsyncClient, headers: dict[str, str], entity_id: str, count: int
) -> list[dict[str, Any]]:
    """The entity's machine translations, once the workflows have made `count` of them."""

    async def probe() -> list[dict[str, Any]] | None:
        body = await _queue(
            client,
            headers,
            entity_id=entity_id,
            status="machine_translated",
            limit=100,
        )
        return body["data"] if body["meta"]["total"] == count else None

    return await eventually(probe, within=30)


def _one(rows: list[dict[str, Any]], locale: str, field_name: str) -> dict[str, Any]:
    [row] = [r for r in rows if r["locale"] == locale and r["field_name"] == field_name]
    return row


async def _public(client: httpx.AsyncClient, treatment_id: str, lang: str) -> dict[str, Any]:
    response = await client.get(f"/treatments/{treatment_id}", params={"lang": lang})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def _create_treatment(client: httpx.AsyncClient, admin: dict[str, str]) -> str:
    created = await client.post("/treatments", headers=admin, json=KNEE)
    assert created.status_code == 201, created.text
    treatment_id: str = created.json()["data"]["id"]
    return treatment_id


async def test_new_content_is_machine_translated_into_the_review_queue_and_published_on_approval(
    client, staff, libretranslate
):
    treatment_id = await _create_treatment(client, staff["admin"])
    rows = await _translated(client, staff["coordinator"], treatment_id, len(LOCALES) * 3)
    assert {(r["locale"], r["field_name"]) for r in rows} == {
        (loc, f) for loc in LOCALES for f in ("name", "description", "preparation")
    }
    description = _one(rows, "ar", "description")
    assert description["translated_text"] == "مفصل ركبة جديد."
    assert description["source_text"] == "A new knee joint."
    assert description["published_text"] is None
    assert description["is_auto_translated"] is True
    assert description["engine"] == "libretranslate"

    # Before any approval the public reads the source, every field named as a fallback.
    before = await _public(client, treatment_id, "ar")
    assert before["name"] == "Knee Replacement"
    assert before["locale"] == "ar"
    assert before["fallback_fields"] == ["name", "description", "preparation"]

    approved = await client.patch(
        f"/translations/{description['id']}",
        headers=staff["coordinator"],
        json={"status": "approved"},
    )
    assert approved.status_code == 200, approved.text
    body = approved.json()["data"]
    assert (body["status"], body["published_text"]) == ("approved", "مفصل ركبة جديد.")
    assert body["is_auto_translated"] is False
    assert body["reviewed_by"] is not None

    after = await _public(client, treatment_id, "ar")
    assert after["description"] == "مفصل ركبة جديد."
    assert after["name"] == "Knee Replacement"
    assert after["fallback_fields"] == ["name", "preparation"]
    # Other languages are untouched by the Arabic approval.
    assert (await _public(client, treatment_id, "hi"))["fallback_fields"] == [
        "name",
        "description",
        "preparation",
    ]
    # Accept-Language works like ?lang=.
    by_header = await client.get(
        f"/treatments/{treatment_id}", headers={"Accept-Language": "ar-EG,ar;q=0.9,en;q=0.5"}
    )
    assert by_header.json()["data"]["description"] == "مفصل ركبة جديد."


async def test_the_review_queue_filters_and_is_for_staff_only(client, staff, sessionmaker):
    treatment_id = await _create_treatment(client, staff["admin"])
    await _translated(client, staff["admin"], treatment_id, len(LOCALES) * 3)
    other = await add_treatment(sessionmaker, name="IVF")
    async with sessionmaker() as db, db.begin():
        db.add(
            Translation(
                entity_type="treatments",
                entity_id=other.id,
                field_name="name",
                locale="fr",
                translated_text="FIV",
                published_text="FIV",
                status="approved",
            )
        )

    arabic = await _queue(client, staff["admin"], locale="ar", entity_id=treatment_id)
    assert arabic["meta"]["total"] == 3
    assert {r["field_name"] for r in arabic["data"]} == {"name", "description", "preparation"}
    one_field = await _queue(
        client, staff["coordinator"], entity_type="treatments", field_name="preparation"
    )
    assert one_field["meta"]["total"] == len(LOCALES)
    assert {r["source_text"] for r in one_field["data"]} == {"Stop eating at midnight."}
    approved = await _queue(client, staff["coordinator"], status="approved")
    assert [(r["entity_id"], r["translated_text"]) for r in approved["data"]] == [
        (str(other.id), "FIV")
    ]
    paged = await _queue(client, staff["admin"], entity_id=treatment_id, page=2, limit=5)
    assert (paged["meta"]["total"], len(paged["data"])) == (12, 5)

    for role in ("patient", "doctor"):
        refused = await client.get("/translations", headers=staff[role])
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    assert (await client.get("/translations")).status_code == 401
    bad = await client.get("/translations", headers=staff["admin"], params={"status": "done"})
    assert bad.status_code == 422
    assert bad.json()["success"] is False


async def test_a_rejection_needs_a_reason_and_the_engine_proposes_again(
    client, staff, libretranslate, sessionmaker
):
    treatment_id = await _create_treatment(client, staff["admin"])
    rows = await _translated(client, staff["admin"], treatment_id, len(LOCALES) * 3)
    name = _one(rows, "fr", "name")

    reasonless = await client.patch(
        f"/translations/{name['id']}", headers=staff["coordinator"], json={"status": "rejected"}
    )
    assert reasonless.status_code == 422
    assert reasonless.json()["error"]["code"] == "VALIDATION_ERROR"
    calls = len(libretranslate.texts("fr"))
    rejected = await client.patch(
        f"/translations/{name['id']}",
        headers=staff["coordinator"],
        json={"status": "rejected", "reason": "Use the surgical term"},
    )
    assert rejected.status_code == 200, rejected.text
    assert (rejected.json()["data"]["status"], rejected.json()["data"]["reason"]) == (
        "rejected",
        "Use the surgical term",
    )

    async def proposed_again() -> dict[str, Any] | None:
        body = await _queue(client, staff["admin"], entity_id=treatment_id, locale="fr")
        row = _one(body["data"], "fr", "name")
        return row if row["status"] == "machine_translated" else None

    again = await eventually(proposed_again, within=30)
    assert again["translated_text"] == "[fr] Knee Replacement"
    assert libretranslate.texts("fr")[calls:] == ["Knee Replacement"]
    async with sessionmaker() as db:
        history = list(
            await db.scalars(
                select(TranslationStatusHistory.to_status)
                .where(TranslationStatusHistory.translation_id == uuid.UUID(name["id"]))
                .order_by(TranslationStatusHistory.seq)
            )
        )
    assert history == ["pending", "machine_translated", "rejected", "machine_translated"]


async def test_an_illegal_decision_answers_409_with_the_allowed_moves_and_changes_nothing(
    client, staff, sessionmaker
):
    treatment_id = await _create_treatment(client, staff["admin"])
    rows = await _translated(client, staff["admin"], treatment_id, len(LOCALES) * 3)
    name = _one(rows, "es", "name")
    first = await client.patch(
        f"/translations/{name['id']}", headers=staff["admin"], json={"status": "approved"}
    )
    assert first.status_code == 200, first.text

    response = await client.patch(
        f"/translations/{name['id']}",
        headers=staff["admin"],
        json={"status": "rejected", "reason": "Too late"},
    )
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_TRANSITION"
    assert error["details"]["allowed"] == ["in_review"]
    async with sessionmaker() as db:
        row = await db.get(Translation, uuid.UUID(name["id"]))
    assert row is not None
    assert (row.status, row.published_text, row.reason) == (
        "approved",
        "[es] Knee Replacement",
        None,
    )
    unknown = await client.patch(
        f"/translations/{uuid.uuid4()}", headers=staff["admin"], json={"status": "approved"}
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "TRANSLATION_NOT_FOUND"
    patient = await client.patch(
        f"/translations/{name['id']}", headers=staff["patient"], json={"status": "approved"}
    )
    assert patient.status_code == 403


async def test_a_persons_translation_is_approved_on_save_and_arabic_and_hindi_come_back_exactly(
    client, staff, sessionmaker
):
    treatment = await add_treatment(sessionmaker, **KNEE)
    assert unicodedata.normalize("NFC", ARABIC) == ARABIC
    assert unicodedata.normalize("NFC", HINDI) == HINDI
    for locale, field_name, text in (("ar", "name", ARABIC), ("hi", "description", HINDI)):
        saved = await client.post(
            "/translations",
            headers=staff["coordinator"],
            json={
                "entity_type": "treatments",
                "entity_id": str(treatment.id),
                "field_name": field_name,
                "locale": locale,
                "translated_text": text,
            },
        )
        assert saved.status_code == 201, saved.text
        data = saved.json()["data"]
        assert (data["status"], data["translated_text"], data["published_text"]) == (
            "approved",
            text,
            text,
        )
        assert data["is_auto_translated"] is False

    arabic = await _public(client, str(treatment.id), "ar")
    assert arabic["name"] == ARABIC
    assert arabic["name"].encode() == ARABIC.encode()
    assert arabic["fallback_fields"] == ["description", "preparation"]
    hindi = await _public(client, str(treatment.id), "hi")
    assert hindi["description"].encode() == HINDI.encode()
    assert hindi["fallback_fields"] == ["name", "preparation"]
    async with sessionmaker() as db:
        stored = await db.scalar(
            select(Translation.translated_text).where(
                Translation.entity_id == treatment.id, Translation.locale == "ar"
            )
        )
    assert stored == ARABIC

    # Text in another normal form is stored in NFC (e + combining acute becomes é).
    decomposed = "Prothe\u0300se du genou"
    french = await client.post(
        "/translations",
        headers=staff["admin"],
        json={
            "entity_type": "treatments",
            "entity_id": str(treatment.id),
            "field_name": "name",
            "locale": "fr",
            "translated_text": decomposed,
        },
    )
    assert french.status_code == 201, french.text
    assert french.json()["data"]["published_text"] == "Prothèse du genou"
    assert (await _public(client, str(treatment.id), "fr"))["name"] == "Prothèse du genou"


async def test_a_persons_translation_of_something_unknown_is_refused_and_nothing_is_stored(
    client, staff, sessionmaker
):
    treatment = await add_treatment(sessionmaker, **KNEE)
    body = {
        "entity_type": "treatments",
        "entity_id": str(treatment.id),
        "field_name": "name",
        "locale": "ar",
        "translated_text": ARABIC,
    }
    cases = [
        ({"locale": "de"}, 400, "LOCALE_NOT_SUPPORTED"),
        ({"field_name": "category"}, 400, "FIELD_NOT_TRANSLATED"),
        ({"entity_type": "bookings"}, 400, "ENTITY_TYPE_NOT_TRANSLATED"),
        ({"entity_id": str(uuid.uuid4())}, 404, "CONTENT_NOT_FOUND"),
        ({"translated_text": ""}, 422, "VALIDATION_ERROR"),
    ]
    for change, status, code in cases:
        response = await client.post("/translations", headers=staff["admin"], json=body | change)
        assert response.status_code == status, (change, response.text)
        assert response.json()["error"]["code"] == code
    patient = await client.post("/translations", headers=staff["patient"], json=body)
    assert patient.status_code == 403
    async with sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(Translation)) == 0


async def test_auto_translate_counts_the_workflows_started_and_those_already_running(
    client, staff, sessionmaker
):
    first = await add_treatment(sessionmaker, **KNEE)
    second = await add_treatment(sessionmaker, name="IVF")
    one = {"entity_type": "treatments", "entity_id": str(first.id)}

    started = await client.post("/translations/auto-translate", headers=staff["admin"], json=one)
    assert started.status_code == 200, started.text
    assert started.json()["data"] == {"started": len(LOCALES), "already_running": 0}
    # The runs wait an idle hour for more work: asked again, they are told, not started.
    again = await client.post("/translations/auto-translate", headers=staff["admin"], json=one)
    assert again.json()["data"] == {"started": 0, "already_running": len(LOCALES)}
    every = await client.post(
        "/translations/auto-translate", headers=staff["admin"], json={"entity_type": "treatments"}
    )
    assert every.json()["data"] == {"started": len(LOCALES), "already_running": len(LOCALES)}
    await _translated(client, staff["admin"], str(second.id), len(LOCALES))

    for body, status in (
        ({"entity_id": str(first.id)}, 422),
        ({"entity_type": "bookings"}, 400),
        ({"entity_type": "treatments", "entity_id": str(uuid.uuid4())}, 404),
    ):
        refused = await client.post(
            "/translations/auto-translate", headers=staff["admin"], json=body
        )
        assert refused.status_code == status, (body, refused.text)
    coordinator = await client.post(
        "/translations/auto-translate", headers=staff["coordinator"], json=one
    )
    assert coordinator.status_code == 403


async def test_auto_translate_with_nothing_named_starts_only_what_is_missing(
    client, staff, sessionmaker, libretranslate
):
    done = await add_treatment(sessionmaker, name="Done")
    missing = await add_treatment(sessionmaker, name="Missing")
    async with sessionmaker() as db, db.begin():
        for locale in LOCALES:
            db.add(
                Translation(
                    entity_type="treatments",
                    entity_id=done.id,
                    field_name="name",
                    locale=locale,
                    translated_text=f"{locale} done",
                    published_text=f"{locale} done",
                    status="approved",
                    source_hash=source_hash("Done"),
                )
            )
    response = await client.post("/translations/auto-translate", headers=staff["admin"], json={})
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"started": len(LOCALES), "already_running": 0}
    rows = await _translated(client, staff["admin"], str(missing.id), len(LOCALES))
    assert sorted(r["translated_text"] for r in rows) == sorted(
        f"[{loc}] Missing" for loc in LOCALES
    )
    assert set(libretranslate.texts()) == {"Missing"}
    kept = await _queue(client, staff["admin"], entity_id=str(done.id))
    assert {r["status"] for r in kept["data"]} == {"approved"}


@pytest.mark.parametrize("overrides", [{"translation_auto_publish_general": True}])
async def test_auto_publish_shows_general_text_at_once_but_never_clinical_text(client, staff):
    treatment_id = await _create_treatment(client, staff["admin"])
    rows = await _translated(client, staff["admin"], treatment_id, len(LOCALES) * 3)
    assert _one(rows, "ar", "name")["published_text"] == "استبدال الركبة"
    assert _one(rows, "ar", "description")["published_text"] is None

    arabic = await _public(client, treatment_id, "ar")
    assert arabic["name"] == "استبدال الركبة"
    # Description and preparation are clinical: the source until a person approves them.
    assert arabic["description"] == "A new knee joint."
    assert arabic["fallback_fields"] == ["description", "preparation"]
    hindi = await _public(client, treatment_id, "hi")
    assert hindi["name"] == "घुटना प्रतिस्थापन"
    # The published general text is still the machine's until someone approves it.
    assert _one(rows, "hi", "name")["is_auto_translated"] is True


async def test_without_auto_publish_no_machine_text_reaches_the_public(client, staff):
    treatment_id = await _create_treatment(client, staff["admin"])
    rows = await _translated(client, staff["admin"], treatment_id, len(LOCALES) * 3)
    assert all(r["published_text"] is None for r in rows)
    for locale in LOCALES:
        shown = await _public(client, treatment_id, locale)
        assert {k: shown[k] for k in KNEE} == KNEE
        assert shown["fallback_fields"] == ["name", "description", "preparation"]


@pytest.mark.parametrize("overrides", [{"default_locale": "en", "translation_locales": ["de"]}])
async def test_the_platform_locales_come_from_the_settings(client, staff, sessionmaker):
    treatment = await add_treatment(sessionmaker, name="Knee Replacement")
    german = await client.post(
        "/translations",
        headers=staff["admin"],
        json={
            "entity_type": "treatments",
            "entity_id": str(treatment.id),
            "field_name": "name",
            "locale": "de",
            "translated_text": "Knieprothese",
        },
    )
    assert german.status_code == 201, german.text
    shown = await _public(client, str(treatment.id), "de")
    assert (shown["name"], shown["locale"]) == ("Knieprothese", "de")
    # Arabic is not one of this platform's languages: the source, in the source's name.
    arabic = await _public(client, str(treatment.id), "ar")
    assert (arabic["name"], arabic["locale"], arabic["fallback_fields"]) == (
        "Knee Replacement",
        "en",
        [],
    )
    refused = await client.post(
        "/translations",
        headers=staff["admin"],
        json={
            "entity_type": "treatments",
            "entity_id": str(treatment.id),
            "field_name": "name",
            "locale": "ar",
            "translated_text": ARABIC,
        },
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["details"]["allowed"] == ["de"]
    profile = await client.patch("/auth/profile", headers=staff["patient"], json={"locale": "de"})
    assert profile.status_code == 200, profile.text
    assert profile.json()["data"]["locale"] == "de"
    wrong = await client.patch("/auth/profile", headers=staff["patient"], json={"locale": "ar"})
    assert wrong.status_code == 422
    assert "de" in wrong.text


async def test_an_edit_of_one_field_retranslates_it_while_the_approved_text_stays_live(
    client, staff, libretranslate
):
    treatment_id = await _create_treatment(client, staff["admin"])
    rows = await _translated(client, staff["admin"], treatment_id, len(LOCALES) * 3)
    description = _one(rows, "ar", "description")
    approve = await client.patch(
        f"/translations/{description['id']}", headers=staff["admin"], json={"status": "approved"}
    )
    assert approve.status_code == 200, approve.text
    libretranslate.calls.clear()

    # A field that is not translated: nothing is asked of the engine.
    other = await client.patch(
        f"/treatments/{treatment_id}", headers=staff["admin"], json={"category": "Orthopedics"}
    )
    assert other.status_code == 200, other.text
    edited = await client.patch(
        f"/treatments/{treatment_id}",
        headers=staff["admin"],
        json={"description": "A new knee joint, made of titanium."},
    )
    assert edited.status_code == 200, edited.text

    async def retranslated() -> dict[str, Any] | None:
        body = await _queue(client, staff["admin"], entity_id=treatment_id, locale="ar")
        row = _one(body["data"], "ar", "description")
        return row if row["translated_text"] != description["translated_text"] else None

    row = await eventually(retranslated, within=30)
    assert (row["status"], row["translated_text"]) == (
        "machine_translated",
        "[ar] A new knee joint, made of titanium.",
    )
    # Patients still read the approved Arabic until the replacement is approved.
    assert row["published_text"] == "مفصل ركبة جديد."
    shown = await _public(client, treatment_id, "ar")
    assert shown["description"] == "مفصل ركبة جديد."

    async def every_locale_asked() -> bool:
        return len(libretranslate.calls) >= len(LOCALES)

    await eventually(every_locale_asked, within=30)
    assert sorted(libretranslate.calls) == sorted(
        ("en", loc, "A new knee joint, made of titanium.") for loc in LOCALES
    )


async def test_a_reviewers_edit_waits_for_approval_and_is_no_longer_the_machines(client, staff):
    treatment_id = await _create_treatment(client, staff["admin"])
    rows = await _translated(client, staff["admin"], treatment_id, len(LOCALES) * 3)
    name = _one(rows, "hi", "name")
    edit = await client.patch(
        f"/translations/{name['id']}",
        headers=staff["coordinator"],
        json={"translated_text": "घुटना बदलना"},
    )
    assert edit.status_code == 200, edit.text
    data = edit.json()["data"]
    assert (data["status"], data["translated_text"], data["published_text"]) == (
        "in_review",
        "घुटना बदलना",
        None,
    )
    assert data["is_auto_translated"] is False
    assert (await _public(client, treatment_id, "hi"))["name"] == "Knee Replacement"
    in_review = await _queue(client, staff["admin"], status="in_review")
    assert [r["id"] for r in in_review["data"]] == [name["id"]]

    approved = await client.patch(
        f"/translations/{name['id']}", headers=staff["admin"], json={"status": "approved"}
    )
    assert approved.json()["data"]["published_text"] == "घुटना बदलना"
    assert (await _public(client, treatment_id, "hi"))["name"] == "घुटना बदलना"
