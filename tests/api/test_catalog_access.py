"""Who may do what on the catalog: every role against its own and someone else's objects.

One test per actor builds the same world (hospital H administered by `hospital_admin_own`, H2
by `hospital_admin_other`, doctor D whose profile belongs to `doctor_own`, D2 to
`doctor_other`, an unapproved doctor P, a lab in H...) and checks every catalog endpoint's
status against the expected column of the matrix, then that the public answers carry no
private field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.access import Role
from tests.builders.catalog_builders import (
    add_appointment,
    add_doctor,
    add_hospital,
    add_insurance,
    add_lab,
    add_package,
    add_review,
    add_treatment,
    affiliate,
    patient_of,
)
from tests.builders.users import create_user, headers_for

ACTORS = [
    "admin",
    "hospital_admin_own",
    "hospital_admin_other",
    "doctor_own",
    "doctor_other",
    "patient",
    "coordinator",
    "anonymous",
]

WEEK = {
    "timezone": "Asia/Kolkata",
    "weekly_hours": [{"day": 2, "start": "09:00", "end": "13:00"}],
}

# (method, path, body) -> status per actor, in ACTORS order. Destructive calls come last.
EVERYONE = (200,) * 8
LOGGED_IN = (200,) * 7 + (401,)
ADMIN_ONLY_201 = (201, 403, 403, 403, 403, 403, 403, 401)
ADMIN_ONLY_200 = (200, 403, 403, 403, 403, 403, 403, 401)
HOSPITAL_MANAGERS_201 = (201, 201, 403, 403, 403, 403, 403, 401)
HOSPITAL_MANAGERS_200 = (200, 200, 403, 403, 403, 403, 403, 401)
DOCTOR_SELF_200 = (200, 403, 403, 200, 403, 403, 403, 401)
# The doctor, an admin of the hospital they work at, an admin.
DOCTOR_MANAGERS_200 = (200, 200, 403, 200, 403, 403, 403, 401)
# A doctor's appointment book (issue 10): the doctor, their hospital's admin, staff.
DOCTOR_BOOK_200 = (200, 200, 403, 200, 403, 403, 200, 401)
ADMIN_SEES_ONLY = (200, 404, 404, 404, 404, 404, 404, 404)

MATRIX: list[tuple[str, str, Any, tuple[int, ...]]] = [
    ("GET", "/hospitals/{H}", None, EVERYONE),
    ("GET", "/hospitals/{H}/doctors", None, EVERYONE),
    ("GET", "/hospitals/{H}/treatments", None, EVERYONE),
    ("GET", "/doctors", None, EVERYONE),
    ("GET", "/doctors/{D}", None, EVERYONE),
    ("GET", "/doctors/{P}", None, ADMIN_SEES_ONLY),
    ("GET", "/doctors/{D}/schedule", None, EVERYONE),
    ("GET", "/doctors/{D}/reviews", None, EVERYONE),
    ("GET", "/treatments/{T}", None, EVERYONE),
    ("GET", "/treatments/{T}/hospitals", None, EVERYONE),
    ("GET", "/treatments/{T_OFF}", None, ADMIN_SEES_ONLY),
    ("GET", "/packages/{K}", None, EVERYONE),
    ("GET", "/packages/{K_OFF}", None, ADMIN_SEES_ONLY),
    ("GET", "/packages/by-country/Turkey", None, EVERYONE),
    ("GET", "/laboratories/{L}", None, LOGGED_IN),
    ("GET", "/laboratories/{L_OFF}", None, (200, 200, 404, 404, 404, 404, 404, 401)),
    ("GET", "/insurance/{I}", None, LOGGED_IN),
    ("GET", "/insurance/{I_OFF}", None, (200, 404, 404, 404, 404, 404, 404, 401)),
    ("GET", "/doctors/{D}/appointments", None, DOCTOR_BOOK_200),
    ("GET", "/doctors/{D}/patients", None, DOCTOR_BOOK_200),
    ("PATCH", "/hospitals/{H}", {"description": "Updated"}, HOSPITAL_MANAGERS_200),
    ("PATCH", "/hospitals/{H}/verify", {"is_verified": True}, ADMIN_ONLY_200),
    ("POST", "/hospitals/{H}/doctors", {"doctor_id": "{D2}"}, HOSPITAL_MANAGERS_201),
    (
        "POST",
        "/hospitals/{H}/treatments",
        {"treatment_id": "{T}", "base_price": "100.00"},
        HOSPITAL_MANAGERS_201,
    ),
    ("PATCH", "/doctors/{D}", {"bio": "Updated"}, DOCTOR_SELF_200),
    ("PATCH", "/doctors/{D}/availability", WEEK, DOCTOR_MANAGERS_200),
    ("GET", "/doctors/{D}/availability", None, EVERYONE),
    ("POST", "/doctors", {"user_id": "{FREE_DOCTOR_USER}"}, ADMIN_ONLY_201),
    ("POST", "/treatments", {"name": "New"}, ADMIN_ONLY_201),
    ("PATCH", "/treatments/{T}", {"description": "x"}, ADMIN_ONLY_200),
    ("POST", "/packages", {"name": "New", "base_price": "10"}, ADMIN_ONLY_201),
    ("PATCH", "/packages/{K}", {"description": "x"}, ADMIN_ONLY_200),
    ("POST", "/insurance", {"provider_name": "New"}, ADMIN_ONLY_201),
    ("PATCH", "/insurance/{I}", {"country": "UK"}, ADMIN_ONLY_200),
    ("POST", "/laboratories", {"name": "New", "hospital_id": "{H}"}, HOSPITAL_MANAGERS_201),
    (
        "POST",
        "/laboratories",
        {"name": "Other", "hospital_id": "{H2}"},
        (201, 403, 201, 403, 403, 403, 403, 401),
    ),
    ("PATCH", "/laboratories/{L}", {"city": "Izmir"}, HOSPITAL_MANAGERS_200),
    ("DELETE", "/hospitals/{H}/doctors/{D}", None, HOSPITAL_MANAGERS_200),
    ("DELETE", "/laboratories/{L}", None, HOSPITAL_MANAGERS_200),
    ("DELETE", "/doctors/{D2}", None, ADMIN_ONLY_200),
    ("DELETE", "/packages/{K}", None, ADMIN_ONLY_200),
    ("DELETE", "/insurance/{I}", None, ADMIN_ONLY_200),
    ("DELETE", "/treatments/{T}", None, ADMIN_ONLY_200),
    ("DELETE", "/hospitals/{H2}", None, ADMIN_ONLY_200),
]

# Public answers carry none of these keys, nor anyone's e-mail, the patient's id or name,
# the appointment's complaint or the hospital's bank details (see private_values).
PRIVATE_KEYS = ('"password_hash"', '"bank_details"', '"patient_id"', '"chief_complaint"')
PUBLIC_READS = [
    "/hospitals/{H}",
    "/hospitals/{H}/doctors",
    "/doctors",
    "/doctors/{D}",
    "/doctors/{D}/schedule",
    "/doctors/{D}/reviews",
    "/treatments/{T}/hospitals",
]


async def build_world(sessionmaker) -> tuple[dict[str, Any], dict[str, str]]:
    users = {
        "admin": await create_user(sessionmaker, Role.ADMIN),
        "hospital_admin_own": await create_user(sessionmaker, Role.HOSPITAL_ADMIN),
        "hospital_admin_other": await create_user(sessionmaker, Role.HOSPITAL_ADMIN),
        "patient": await create_user(sessionmaker, first_name="Secret"),
        "coordinator": await create_user(sessionmaker, Role.COORDINATOR),
    }
    users["doctor_own"], doctor = await add_doctor(sessionmaker, specialty="Cardiology")
    users["doctor_other"], doctor2 = await add_doctor(sessionmaker, last_name="Second")
    _, pending = await add_doctor(sessionmaker, last_name="Pending", approved=False)
    free_user, free_profile = await add_doctor(sessionmaker, last_name="Free")
    async with sessionmaker() as db, db.begin():
        await db.delete(await db.get(type(free_profile), free_profile.id))

    hospital = await add_hospital(
        sessionmaker, admin_user_id=users["hospital_admin_own"].id, bank_details={"iban": "TR00"}
    )
    hospital2 = await add_hospital(
        sessionmaker, name="Other", admin_user_id=users["hospital_admin_other"].id
    )
    treatment = await add_treatment(sessionmaker)
    from tests.builders.catalog_builders import add_offer

    await add_offer(sessionmaker, hospital2, treatment, base_price=500)
    await affiliate(sessionmaker, hospital, doctor)
    patient = await patient_of(sessionmaker, users["patient"])
    await add_appointment(
        sessionmaker,
        doctor,
        patient,
        datetime.now(UTC) + timedelta(days=1),
        chief_complaint="chest pain",
    )
    await add_review(sessionmaker, doctor, is_published=True, patient_id=patient.id)
    ids = {
        "H": hospital.id,
        "H2": hospital2.id,
        "D": doctor.id,
        "D2": doctor2.id,
        "P": pending.id,
        "FREE_DOCTOR_USER": free_user.id,
        "T": treatment.id,
        "T_OFF": (await add_treatment(sessionmaker, name="Off", is_active=False)).id,
        "K": (await add_package(sessionmaker, country="Turkey")).id,
        "K_OFF": (await add_package(sessionmaker, is_active=False)).id,
        "L": (await add_lab(sessionmaker, hospital_id=hospital.id)).id,
        "L_OFF": (await add_lab(sessionmaker, hospital_id=hospital.id, is_active=False)).id,
        "I": (await add_insurance(sessionmaker)).id,
        "I_OFF": (await add_insurance(sessionmaker, is_active=False)).id,
        "PATIENT": patient.id,
    }
    return users, {key: str(value) for key, value in ids.items()}


def fill(template: Any, ids: dict[str, str]) -> Any:
    text = json.dumps(template)
    for key in sorted(ids, key=len, reverse=True):
        text = text.replace("{" + key + "}", ids[key])
    return json.loads(text)


@pytest.mark.parametrize("actor", ACTORS)
async def test_catalog_access_matrix(client, sessionmaker, actor):
    users, ids = await build_world(sessionmaker)
    headers = {} if actor == "anonymous" else headers_for(users[actor])
    column = ACTORS.index(actor)

    private_values = [u.email for u in users.values()] + [
        ids["PATIENT"],
        "Secret",
        "chest pain",
        "TR00",
    ]
    for path in PUBLIC_READS:
        response = await client.get(fill(path, ids), headers=headers)
        assert response.status_code == 200, (path, response.text)
        for private in (*PRIVATE_KEYS, *private_values):
            assert private not in response.text, (path, private)

    got, expected = {}, {}
    for method, path, body, statuses in MATRIX:
        key = f"{method} {path} {json.dumps(body) if body else ''}".strip()
        response = await client.request(
            method, fill(path, ids), headers=headers, json=fill(body, ids) if body else None
        )
        got[key] = response.status_code
        expected[key] = statuses[column]
    assert got == expected
