"""Authorization comes before the body: a caller who may not write gets 403 (or 404 where the
object is invisible to them) whatever they send; only a caller who may write learns, with a 422
naming the field, that the body is wrong."""

from __future__ import annotations

import uuid
from typing import Any

from domain.access import Role
from tests.api.test_catalog_access import build_world, fill
from tests.builders.users import create_user, headers_for

JUNK = {"not_a_field": "junk", "rating": "not a number"}
WRITES = {"post", "patch", "put", "delete"}
# Writes a patient is meant to make on ids of their own choosing: they are not refused first.
# The webhooks are signed by the gateways, not authorized by a login.
NOT_AUTHORIZED_BY_ROLE = ("/webhooks/", "/payments/webhook", "/auth/")


def write_routes_with_a_path_id(openapi: dict[str, Any]) -> list[tuple[str, str]]:
    """Every write route of the API whose path names an object and which reads a body."""
    found = []
    for path, operations in openapi["paths"].items():
        if "{" not in path or any(part in path for part in NOT_AUTHORIZED_BY_ROLE):
            continue
        for method, operation in operations.items():
            if method in WRITES and "requestBody" in operation:
                found.append((method.upper(), path.removeprefix("/api/v1")))
    return sorted(found)


def with_unknown_ids(path: str) -> str:
    parts = [str(uuid.uuid4()) if p.startswith("{") else p for p in path.split("/")]
    return "/".join(parts)


async def test_every_write_route_refuses_an_unseen_object_before_reading_the_body(
    client, sessionmaker
):
    openapi = (await client.get("http://testserver/openapi.json")).json()
    routes = write_routes_with_a_path_id(openapi)
    assert ("PATCH", "/hospitals/{id}") in routes and ("PATCH", "/bookings/{booking_id}") in routes
    patient = await create_user(sessionmaker, Role.PATIENT)
    headers = headers_for(patient)
    answers = {}
    for method, path in routes:
        response = await client.request(method, with_unknown_ids(path), headers=headers, json=JUNK)
        answers[f"{method} {path}"] = response.status_code
    # 403: the patient's role may not use the route at all; 404: they cannot see the object.
    # Never 422: the body of a write the caller may not make is not looked at.
    assert {route: status for route, status in answers.items() if status not in (403, 404)} == {}


# (method, path, body, actor, status): the same junk body, refused for who may not write and
# named for who may.
CASES: list[tuple[str, str, Any, str, int]] = [
    ("PATCH", "/hospitals/{H}", JUNK, "patient", 403),
    ("PATCH", "/hospitals/{H}", JUNK, "hospital_admin_other", 403),
    ("PATCH", "/hospitals/{H}", JUNK, "hospital_admin_own", 422),
    ("PATCH", "/hospitals/{H}", {"description": "Ours"}, "hospital_admin_own", 200),
    ("POST", "/hospitals", JUNK, "patient", 403),
    ("POST", "/hospitals", JUNK, "admin", 422),
    ("POST", "/hospitals/{H}/doctors", JUNK, "hospital_admin_other", 403),
    ("POST", "/hospitals/{H}/doctors", JUNK, "hospital_admin_own", 422),
    ("POST", "/hospitals/{H}/treatments", JUNK, "doctor_own", 403),
    ("PATCH", "/doctors/{D}", JUNK, "doctor_other", 403),
    ("PATCH", "/doctors/{D}", JUNK, "doctor_own", 422),
    ("PATCH", "/doctors/{D}/availability", JUNK, "patient", 403),
    ("POST", "/doctors", JUNK, "coordinator", 403),
    ("PATCH", "/laboratories/{L}", JUNK, "hospital_admin_other", 403),
    ("PATCH", "/laboratories/{L_OFF}", JUNK, "patient", 404),  # an inactive lab is unseen
    ("PATCH", "/laboratories/{L_OFF}", JUNK, "hospital_admin_own", 422),
    ("POST", "/laboratories", JUNK, "doctor_own", 403),
    ("PATCH", "/treatments/{T}", JUNK, "patient", 403),
    ("PATCH", "/treatments/{T_OFF}", JUNK, "patient", 404),
    ("PATCH", "/treatments/{T}", JUNK, "admin", 422),
    ("POST", "/treatments", JUNK, "hospital_admin_own", 403),
    ("PATCH", "/packages/{K}", JUNK, "coordinator", 403),
    ("PATCH", "/packages/{K_OFF}", JUNK, "patient", 404),
    ("POST", "/packages", JUNK, "patient", 403),
    ("PATCH", "/insurance/{I}", JUNK, "patient", 403),
    ("PATCH", "/insurance/{I_OFF}", JUNK, "patient", 404),
    ("POST", "/insurance", JUNK, "doctor_own", 403),
    ("POST", "/insurance", JUNK, "admin", 422),
    ("POST", "/faqs", JUNK, "patient", 403),
    ("POST", "/website", JUNK, "patient", 403),
    ("POST", "/coupons", JUNK, "patient", 403),
    ("POST", "/reviews", JUNK, "admin", 403),  # only patients write reviews
    ("POST", "/prescriptions", JUNK, "patient", 403),
    ("POST", "/lab-tests", JUNK, "patient", 403),
    ("POST", "/patients", JUNK, "doctor_own", 403),
    # Multipart uploads: the role is refused before the form and the file are read.
    ("POST", "/medical-records", JUNK, "hospital_admin_own", 403),
    ("POST", "/upload/medical-record", JUNK, "hospital_admin_own", 403),
    ("PATCH", "/patients/{PATIENT}", JUNK, "coordinator", 403),
    ("PATCH", "/patients/{PATIENT}", JUNK, "doctor_other", 404),  # not their patient
    ("PATCH", "/patients/{PATIENT}", JUNK, "patient", 422),
]


async def test_write_answers_who_may_not_before_what_is_wrong(client, sessionmaker):
    users, ids = await build_world(sessionmaker)
    headers = {actor: headers_for(users[actor]) for actor in users}
    got, expected = {}, {}
    for method, path, body, actor, status in CASES:
        key = f"{method} {path} {'junk' if body is JUNK else 'good'} as {actor}"
        response = await client.request(method, fill(path, ids), headers=headers[actor], json=body)
        got[key], expected[key] = response.status_code, status
        if response.status_code == 422:
            # The answer names the offending field of the body.
            named = " ".join(d["field"] for d in response.json()["error"]["details"])
            assert "not_a_field" in named or "rating" in named, (key, response.text)
    assert got == expected
