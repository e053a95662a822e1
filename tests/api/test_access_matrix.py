"""The access matrix, generated from the OpenAPI: every operation with an object in its path is
tried by everyone who does not own that object (anonymous, another patient, another doctor,
another hospital's admin, another coordinator) and must answer 401 (anonymous) / 403 / 404 with
none of the object's data in the body.

New routes are covered without anyone remembering to: operations come from app.openapi(), and
each finds its object through the seeders in tests/builders/access_world.py (by path prefix). A
route with no seeder fails here ("add a seeder for ..."); only the reviewed lists below may let
a caller through, each entry with its reason. Admins are the platform: they reach every object
by design, and the routes' own tests hold what they may do."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from runtime.settings import Settings
from tests.builders.access_world import (
    OWNERS,
    SEEDERS,
    STRANGERS,
    Seeded,
    World,
    build_world,
    seed,
    seeder_for,
    subscription_money,
)

PREFIX = "/api/v1"
CALLERS = ("anonymous", *STRANGERS)

# Operations that answer anyone by design (the public catalog and content), with the reason.
# Their non-public rows (unverified, unpublished, inactive) are held by the catalog tests.
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/hospitals/{id}"): "the public catalog: a verified hospital's profile",
    ("GET", "/hospitals/{id}/doctors"): "the public catalog: who works at a hospital",
    ("GET", "/hospitals/{id}/treatments"): "the public catalog: what a hospital offers",
    ("GET", "/doctors/{id}"): "the public catalog: a doctor's profile",
    ("GET", "/doctors/{id}/schedule"): "patients choose a slot from the public schedule",
    ("GET", "/doctors/{id}/availability"): "patients choose a slot from the public hours",
    ("GET", "/doctors/{id}/reviews"): "published reviews are public",
    ("GET", "/treatments/{id}"): "the public catalog: a treatment",
    ("GET", "/treatments/{id}/hospitals"): "the public catalog: where a treatment is offered",
    ("GET", "/packages/{id}"): "the public catalog: a package",
    ("GET", "/packages/by-country/{country}"): "the public catalog: packages of a country",
    ("GET", "/laboratories/{id}"): "the public catalog: an active laboratory",
    ("GET", "/insurance/{id}"): "the public catalog: an active insurer",
    ("GET", "/faqs/{id}"): "public content: a published FAQ",
    ("GET", "/website/{slug}"): "public content: a published page",
    ("GET", "/subscription-plans/{id}"): "the plans on sale are public (retired: admins only)",
    ("GET", "/coupons/{code}"): "whoever holds a code may check what it gives (no list, no id)",
}

# Callers who reach an object they do not own by design: (method or "*", path) -> caller ->
# reason. Keep it short; every entry is a decision someone made about minimum necessary.
# A path here covers the paths under it.
STAFF_WORK = "staff (every coordinator) by design: domain.access.STAFF"
GRANTED: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/hospitals/{id}/analytics"): {
        "coordinator": f"{STAFF_WORK} read every hospital's figures (counts and money, no "
        "patient data)",
        "other_coordinator": f"{STAFF_WORK} read every hospital's figures (counts and money, no "
        "patient data)",
    },
    ("*", "/appointments/{appointment_id}"): {
        "other_coordinator": f"{STAFF_WORK} schedule every appointment (in_appointment)"
    },
    ("GET", "/patients/{id}"): {
        "other_coordinator": "coordinators look every patient up (GET /patients is theirs); the "
        "sub-lists filter their rows by the rows' own rules (medical data: the care team only)"
    },
    ("GET", "/doctors/{id}/appointments"): {
        "other_coordinator": f"{STAFF_WORK} schedule every doctor's consultations"
    },
    ("GET", "/doctors/{id}/patients"): {
        "other_coordinator": "coordinators look every patient up; the clinical text stays the "
        "care team's (policies.appointment_medical_scope)"
    },
    ("POST", "/doctors/{id}/waitlist"): {
        "other_patient": "any patient may wait for any doctor's day (the body decides: 422 here)"
    },
    ("GET", "/doctors/{id}/waitlist"): {
        "other_patient": "a patient sees their own entries only (none here)",
        "other_coordinator": f"{STAFF_WORK} see every doctor's waitlist",
    },
    ("DELETE", "/doctors/{id}/waitlist/{entry_id}"): {
        "other_coordinator": f"{STAFF_WORK} take any patient off a waitlist"
    },
    ("*", "/subscriptions/{id}"): {
        "other_coordinator": f"{STAFF_WORK} see every subscription and cancel one now (refund)"
    },
    ("*", "/support/tickets/{id}"): {
        "other_coordinator": f"{STAFF_WORK} work the whole support queue"
    },
    ("PATCH", "/translations/{translation_id}"): {
        "other_coordinator": f"{STAFF_WORK} review translations (domain.translation.REVIEWERS)"
    },
}


# GET operations whose owner does not get a 200 here, with the reason; every other GET of an
# object is read by its owner too (the route serves the seeded row, so a stranger's 404 there
# is a refusal, not a miss).
OWNER_GET_ASIDE: dict[str, str] = {
    "/appointments/{appointment_id}/video-call": "opens shortly before the start (409 until)",
    "/invoices/{id}/pdf": "rendered by the worker, which this test does not run",
    "/prescriptions/{id}/pdf": "rendered by the worker, which this test does not run",
}


@pytest.fixture
def settings(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    return make_settings(storage_dir=str(tmp_path / "files"))


def operations(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(METHOD, path without /api/v1) of every operation with a parameter in its path."""
    return [
        (method.upper(), path.removeprefix(PREFIX))
        for path, ops in spec["paths"].items()
        if "{" in path
        for method in ops
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def granted(method: str, path: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for (m, p), callers in GRANTED.items():
        if m in ("*", method) and (path == p or path.startswith(p + "/")):
            found.update(callers)
    return found


def unfilled(path: str, seeded: Seeded) -> list[str]:
    return [n for n in re.findall(r"{([^}]+)}", path) if n not in seeded.params]


async def owner_reads(client: httpx.AsyncClient, world: World, prefix: str, seeded: Seeded) -> str:
    """The owner's read of the object, holding every secret: proof the seed is what the routes
    serve (so a stranger's 404 means refused, not missing)."""
    response = await client.get(seeded.read, headers=world.headers(seeded.owner))
    assert response.status_code == 200, (prefix, seeded.read, response.text)
    missing = [s for s in seeded.secrets if s not in response.text]
    assert not missing, f"the owner's read {seeded.read} of {prefix} lacks {missing}"
    return response.text


def test_every_operation_with_an_id_has_a_seeder_or_is_public_by_design(app):
    paths = {p for _, p in operations(app.openapi())}
    public = {p for _, p in PUBLIC}
    missing = sorted(
        f"add a seeder for {path} (tests/builders/access_world.py)"
        for method, path in operations(app.openapi())
        if (method, path) not in PUBLIC and seeder_for(path) is None
    )
    assert not missing, "\n".join(missing)
    stale = sorted({f"{m} {p}" for m, p in PUBLIC if (m, p) not in operations(app.openapi())})
    assert not stale, f"PUBLIC names operations that no longer exist: {stale}"
    unused = sorted(p for p in SEEDERS if not any(seeder_for(q) == p for q in paths | public))
    assert not unused, f"seeders for paths that no longer exist: {unused}"
    reviewed = [p for _, p in GRANTED] + list(OWNER_GET_ASIDE)
    gone = sorted(p for p in reviewed if not any(q == p or q.startswith(p + "/") for q in paths))
    assert not gone, f"GRANTED / OWNER_GET_ASIDE name paths that no longer exist: {gone}"


async def test_no_stranger_reaches_an_object_by_its_id(app, client, sessionmaker, settings):
    world = await build_world(sessionmaker, settings, storage=app.state.adapters.storage)
    spec_ops = operations(app.openapi())
    breaches: list[str] = []
    checked = 0
    for method, path in spec_ops:
        if (method, path) in PUBLIC:
            continue
        prefix = seeder_for(path)
        assert prefix is not None, f"add a seeder for {path} (tests/builders/access_world.py)"
        seeded = await seed(world, prefix)
        if prefix not in world.proven:
            try:
                world.proven[prefix] = await owner_reads(client, world, prefix, seeded)
            except AssertionError as unproven:
                breaches.append(f"unproven seed: {unproven}")
                world.proven[prefix] = ""
        if missing := unfilled(path, seeded):
            breaches.append(f"add a seeder for {path}: its seeder ({prefix}) fills no {missing}")
            continue
        url = path.format(**seeded.params)
        allowed = granted(method, path)
        for caller in (*CALLERS, *seeded.refused):
            if caller in allowed:
                continue
            body = None if method == "GET" else {}
            response = await client.request(method, url, headers=world.headers(caller), json=body)
            checked += 1
            refusals = {401, 403, 404} if caller == "anonymous" else {403, 404}
            if response.status_code not in refusals:
                breaches.append(f"{caller}: {method} {path} -> {response.status_code}")
            shown = [s for s in seeded.secrets if s in response.text]
            if shown:
                breaches.append(f"{caller}: {method} {path} shows {shown}")
        if method == "GET" and path not in OWNER_GET_ASIDE:
            response = await client.get(url, headers=world.headers(seeded.owner))
            if response.status_code != 200:
                breaches.append(f"owner {seeded.owner}: GET {path} -> {response.status_code}")
    # Nothing a stranger sent changed or removed what the owner sees.
    for prefix, before in world.proven.items():
        if not before:
            continue
        after = await owner_reads(client, world, prefix, world.seeded[prefix])
        if after != before:
            breaches.append(f"{prefix} changed under the strangers' requests")
    assert not breaches, f"{len(breaches)} breaches of {checked}:\n" + "\n".join(breaches)
    assert checked > 300, checked  # the matrix really ran: ~70 operations x 5 callers


async def test_a_subscriptions_money_reaches_its_holder_and_staff_only(
    app, client, sessionmaker, settings
):
    """The matrix's /payments/{id} and /invoices/{id} seeds are a patient's money, which no
    hospital admin or doctor sees. A subscription's charge and invoice are its holder's: the
    hospital's admin sees their hospital's and not another hospital's nor their doctor's own;
    a doctor their own and not their hospital's. In the lists and by id (the PDF too)."""
    world = await build_world(sessionmaker, settings, storage=app.state.adapters.storage)
    held = await subscription_money(world)
    patients = [await seed(world, p) for p in ("/payments/{id}", "/invoices/{id}")]
    everyone = ("anonymous", *OWNERS, *STRANGERS, "admin")
    lists: dict[str, dict[str, str]] = {}
    for caller in everyone:
        if caller == "anonymous":
            continue
        lists[caller] = {}
        for what in ("payments", "invoices"):
            response = await client.get(
                f"/{what}", params={"limit": 100}, headers=world.headers(caller)
            )
            assert response.status_code == 200, (caller, what, response.text)
            lists[caller][what] = response.text
    breaches: list[str] = []
    for holder, money in held.items():
        payment, invoice = money.payment, money.invoice
        secrets = {
            "payments": (str(payment.id), payment.transaction_id),
            "invoices": (str(invoice.id), invoice.invoice_number),
        }
        reads = (
            ("payments", f"/payments/{payment.id}"),
            ("payments", f"/payments/{payment.id}/status"),
            ("invoices", f"/invoices/{invoice.id}"),
            ("invoices", f"/invoices/{invoice.id}/pdf"),
        )
        for caller in everyone:
            sees = caller in (holder, "admin")
            for what, path in reads:
                response = await client.get(path, headers=world.headers(caller))
                if sees:
                    if response.status_code != 200:
                        breaches.append(f"{caller}: {path} of {holder}'s -> {response.status_code}")
                    elif path.endswith("/pdf"):
                        if not response.content.startswith(b"%PDF"):
                            breaches.append(f"{caller}: {path} of {holder}'s is no PDF")
                    elif str(payment.id if what == "payments" else invoice.id) not in response.text:
                        breaches.append(f"{caller}: {path} of {holder}'s lacks its id")
                    continue
                refusals = {401, 403, 404} if caller == "anonymous" else {403, 404}
                if response.status_code not in refusals:
                    breaches.append(f"{caller}: {path} of {holder}'s -> {response.status_code}")
                if shown := [s for s in secrets[what] if s in response.text]:
                    breaches.append(f"{caller}: {path} of {holder}'s shows {shown}")
            if caller == "anonymous":
                continue
            for what in ("payments", "invoices"):
                listed = secrets[what][0] in lists[caller][what]
                if listed is not sees:
                    breaches.append(f"{caller}: /{what} lists {holder}'s: {listed}")
    # The holders still see nothing of patients' money (the matrix's patient seeds, of the
    # owners' booking at the hospital admin's hospital): the patient and staff do.
    for what, seeded in zip(("payments", "invoices"), patients, strict=True):
        for caller in (*OWNERS, *STRANGERS, "admin"):
            listed = seeded.secrets[0] in lists[caller][what]
            if listed is not (caller in ("patient", "coordinator", "admin")):
                breaches.append(f"{caller}: /{what} lists the patient's: {listed}")
    assert not breaches, "\n".join(breaches)
