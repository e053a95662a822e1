"""FAQs, website pages and support tickets over HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.access import Role
from domain.models.content import Faq, WebsiteContent
from tests.builders.users import create_user, headers_for


async def test_public_reads_published_faqs_in_display_order(client, sessionmaker):
    async with sessionmaker() as db, db.begin():
        db.add_all(
            [
                Faq(
                    question="Do I need a visa?",
                    answer="Usually a medical visa.",
                    display_order=2,
                    category="travel",
                ),
                Faq(
                    question="How do I pay?",
                    answer="By card, online.",
                    display_order=1,
                    category="payments",
                ),
                Faq(question="Draft", answer="Not yet", display_order=0, is_published=False),
            ]
        )
    listed = await client.get("/faqs")
    assert [f["question"] for f in listed.json()["data"]] == ["How do I pay?", "Do I need a visa?"]
    travel = await client.get("/faqs", params={"category": "travel"})
    assert travel.json()["meta"]["total"] == 1


async def test_only_admins_write_faqs(client, sessionmaker):
    admin = await create_user(sessionmaker, Role.ADMIN)
    patient = await create_user(sessionmaker)
    body = {"question": "Can family come along?", "answer": "Yes, up to two companions."}
    refused = await client.post("/faqs", json=body, headers=headers_for(patient))
    assert refused.status_code == 403
    made = await client.post("/faqs", json=body, headers=headers_for(admin))
    assert made.status_code == 201
    assert (await client.get("/faqs")).json()["meta"]["total"] == 1


async def test_website_page_by_slug_and_unpublished_pages_stay_hidden(client, sessionmaker):
    async with sessionmaker() as db, db.begin():
        db.add_all(
            [
                WebsiteContent(
                    page_slug="about", title="About Medivoy", content="We help patients."
                ),
                WebsiteContent(
                    page_slug="careers", title="Careers", content="Soon", is_published=False
                ),
            ]
        )
    about = await client.get("/website/about")
    assert about.status_code == 200 and about.json()["data"]["title"] == "About Medivoy"
    assert (await client.get("/website/careers")).status_code == 404
    assert (await client.get("/website/..%2F..%2Fetc")).status_code in (404, 422)


async def test_admin_publishes_a_page_and_slug_must_be_unique(client, sessionmaker):
    admin = await create_user(sessionmaker, Role.ADMIN)
    headers = headers_for(admin)
    page = {"page_slug": "privacy", "title": "Privacy", "content": "Your data stays yours."}
    assert (await client.post("/website", json=page, headers=headers)).status_code == 201
    again = await client.post("/website", json=page, headers=headers)
    assert again.status_code == 409
    bad = await client.post("/website", json={**page, "page_slug": "Bad Slug!"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "page_slug"


async def test_ticket_gets_a_number_and_an_sla_by_priority(client, sessionmaker):
    patient = await create_user(sessionmaker)
    headers = headers_for(patient)
    opened = await client.post(
        "/support/tickets",
        headers=headers,
        json={
            "subject": "Cannot upload my MRI",
            "description": "The upload stops at 90%",
            "priority": "urgent",
        },
    )
    assert opened.status_code == 201, opened.text
    ticket = opened.json()["data"]
    assert ticket["ticket_number"].startswith("MV-TK-")
    assert ticket["status"] == "open"
    created = datetime.fromisoformat(ticket["created_at"])
    due = datetime.fromisoformat(ticket["sla_due_date"])
    assert timedelta(hours=3, minutes=59) < due - created < timedelta(hours=4, minutes=1)


async def test_ticket_conversation_internal_notes_and_close(client, sessionmaker):
    patient = await create_user(sessionmaker)
    coordinator = await create_user(sessionmaker, Role.COORDINATOR)
    other = await create_user(sessionmaker)
    headers = headers_for(patient)
    staff = headers_for(coordinator)
    ticket = (
        await client.post(
            "/support/tickets",
            headers=headers,
            json={"subject": "Invoice question", "description": "Is VAT included?"},
        )
    ).json()["data"]
    tid = ticket["id"]

    assert (
        await client.post(
            f"/support/tickets/{tid}/reply",
            headers=staff,
            json={"message": "Patient seems anxious", "is_internal": True},
        )
    ).status_code == 201
    answered = await client.post(
        f"/support/tickets/{tid}/reply", headers=staff, json={"message": "Yes, VAT is included."}
    )
    assert answered.status_code == 201
    refused = await client.post(
        f"/support/tickets/{tid}/reply",
        headers=headers,
        json={"message": "sneaky", "is_internal": True},
    )
    assert refused.status_code == 403

    mine = (await client.get(f"/support/tickets/{tid}", headers=headers)).json()["data"]
    assert [r["message"] for r in mine["replies"]] == ["Yes, VAT is included."]
    assert mine["status"] == "waiting"
    assert mine["assigned_to_user_id"] == str(coordinator.id)
    staff_view = (await client.get(f"/support/tickets/{tid}", headers=staff)).json()["data"]
    assert len(staff_view["replies"]) == 2

    intruder = headers_for(other)
    assert (await client.get(f"/support/tickets/{tid}", headers=intruder)).status_code == 404
    assert (await client.get("/support/tickets", headers=intruder)).json()["data"] == []

    closed = await client.patch(
        f"/support/tickets/{tid}/close", headers=staff, json={"resolution_notes": "Explained VAT"}
    )
    assert closed.status_code == 200 and closed.json()["data"]["status"] == "closed"
    late = await client.post(
        f"/support/tickets/{tid}/reply", headers=headers, json={"message": "one more thing"}
    )
    assert late.status_code == 409 and late.json()["error"]["code"] == "TICKET_CLOSED"


async def test_owner_cannot_triage_their_own_ticket(client, sessionmaker):
    patient = await create_user(sessionmaker)
    headers = headers_for(patient)
    tid = (
        await client.post(
            "/support/tickets", headers=headers, json={"subject": "Help", "description": "Please"}
        )
    ).json()["data"]["id"]
    refused = await client.patch(
        f"/support/tickets/{tid}", headers=headers, json={"priority": "urgent"}
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "FIELD_NOT_ALLOWED"
    edited = await client.patch(
        f"/support/tickets/{tid}", headers=headers, json={"subject": "Help with my visa letter"}
    )
    assert edited.status_code == 200
