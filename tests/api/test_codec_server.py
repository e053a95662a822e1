"""The codec endpoint the Temporal UI and CLI call (Temporal's remote codec protocol): staff read
payloads in clear, nobody else does, and only the UI's origin may call it from a browser."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import uvicorn
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from domain.access import Role
from runtime.postgres import free_port
from runtime.settings import Settings
from runtime.temporal_server import binary
from tests.builders.booking_builders import booking_people
from tests.builders.users import create_user, headers_for
from workflows.messages import booking_workflow_id

UI = "http://127.0.0.1:8233"
FRONT = "https://app.medivoy.example"
CODEC_TOKEN = "codec-token-" + "c" * 40
NOTE = "Patient reports chest pain after the first dose"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(codec_cors_origins=[UI], cors_origins=[FRONT], codec_token=CODEC_TOKEN)


def _wire(payloads: list[Payload]) -> dict[str, Any]:
    """Payloads as the UI sends them: proto3 JSON, bytes in base64."""
    return {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                "data": base64.b64encode(p.data).decode(),
            }
            for p in payloads
        ]
    }


def _proto(body: dict[str, Any]) -> list[Payload]:
    return [
        Payload(
            metadata={k: base64.b64decode(v) for k, v in p["metadata"].items()},
            data=base64.b64decode(p["data"]),
        )
        for p in body["payloads"]
    ]


def _note() -> Payload:
    (payload,) = pydantic_data_converter.payload_converter.to_payloads([{"notes": NOTE}])
    return payload


async def test_staff_decode_what_the_worker_encrypted_and_encode_round_trips(
    client, settings, sessionmaker
):
    coordinator = headers_for(await create_user(sessionmaker, Role.COORDINATOR))
    codec = settings.payload_codec
    assert codec is not None
    stored = await codec.encode([_note()])
    assert NOTE.encode() not in stored[0].SerializeToString()

    decoded = await client.post(
        "/codec/decode",
        json=_wire(stored),
        headers={**coordinator, "X-Namespace": "default"},
    )
    assert decoded.status_code == 200, decoded.text
    (clear,) = _proto(decoded.json())
    assert json.loads(clear.data) == {"notes": NOTE}
    assert clear.metadata["encoding"] == b"json/plain"

    encoded = await client.post("/codec/encode", json=_wire([_note()]), headers=coordinator)
    assert encoded.status_code == 200, encoded.text
    (sealed,) = _proto(encoded.json())
    assert sealed.metadata["encoding"] == b"binary/encrypted"
    assert NOTE.encode() not in sealed.data
    assert await codec.decode([sealed]) == [_note()]

    # What was never encrypted (histories from before the codec) comes back as it is.
    passed = await client.post("/codec/decode", json=_wire([_note()]), headers=coordinator)
    assert _proto(passed.json()) == [_note()]


async def test_only_staff_or_the_codec_token_may_decode(client, settings, sessionmaker):
    codec = settings.payload_codec
    assert codec is not None
    body = _wire(await codec.encode([_note()]))
    callers = {
        "admin": (headers_for(await create_user(sessionmaker, Role.ADMIN)), 200),
        "coordinator": (headers_for(await create_user(sessionmaker, Role.COORDINATOR)), 200),
        "codec token": ({"Authorization": f"Bearer {CODEC_TOKEN}"}, 200),
        "patient": (headers_for(await create_user(sessionmaker, Role.PATIENT)), 403),
        "doctor": (headers_for(await create_user(sessionmaker, Role.DOCTOR)), 403),
        "hospital admin": (headers_for(await create_user(sessionmaker, Role.HOSPITAL_ADMIN)), 403),
        "wrong token": ({"Authorization": "Bearer " + "x" * 52}, 401),
        "nobody": ({}, 401),
    }
    for name, (headers, status) in callers.items():
        for verb in ("decode", "encode"):
            answer = await client.post(f"/codec/{verb}", json=body, headers=headers)
            assert answer.status_code == status, (name, verb, answer.text)
            if status != 200:
                assert answer.json()["success"] is False
                assert NOTE not in answer.text
    refused = await client.post("/codec/decode", json=body, headers=callers["patient"][0])
    assert refused.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    anonymous = await client.post("/codec/decode", json=body)
    assert anonymous.json()["error"]["code"] == "AUTH_REQUIRED"


async def test_cors_lets_only_the_temporal_ui_reach_the_codec(client):
    def preflight(path: str, origin: str):
        return client.options(
            path,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
            },
        )

    ui = await preflight("/codec/decode", UI)
    assert ui.status_code == 200
    assert ui.headers["access-control-allow-origin"] == UI
    assert "x-namespace" in ui.headers["access-control-allow-headers"].lower()
    assert ui.headers["access-control-allow-credentials"] == "true"

    # The front-end's origin may call the API, not the codec; the UI's the codec, not the API.
    front_at_codec = await preflight("/codec/decode", FRONT)
    assert "access-control-allow-origin" not in front_at_codec.headers
    ui_at_api = await preflight("/bookings", UI)
    assert "access-control-allow-origin" not in ui_at_api.headers
    front_at_api = await preflight("/bookings", FRONT)
    assert front_at_api.headers["access-control-allow-origin"] == FRONT


async def test_bad_payloads_are_refused_with_a_clear_error(client, settings, sessionmaker):
    admin = headers_for(await create_user(sessionmaker, Role.ADMIN))
    not_b64 = await client.post(
        "/codec/decode", json={"payloads": [{"metadata": {}, "data": "%%%"}]}, headers=admin
    )
    assert not_b64.status_code == 400
    assert not_b64.json()["error"]["code"] == "INVALID_PAYLOAD"
    codec = settings.payload_codec
    assert codec is not None
    (sealed,) = await codec.encode([_note()])
    sealed.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    tampered = await client.post("/codec/decode", json=_wire([sealed]), headers=admin)
    assert tampered.status_code == 400
    assert tampered.json()["error"]["code"] == "PAYLOAD_NOT_DECRYPTABLE"
    sealed.metadata["encryption-key-id"] = b"retired-2024"
    unknown = await client.post("/codec/decode", json=_wire([sealed]), headers=admin)
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "UNKNOWN_PAYLOAD_KEY"
    assert "retired-2024" in unknown.json()["message"]


async def test_a_staff_browser_session_lets_the_temporal_ui_decode_with_a_cookie(
    client, settings, sessionmaker
):
    codec = settings.payload_codec
    assert codec is not None
    body = _wire(await codec.encode([_note()]))
    patient = headers_for(await create_user(sessionmaker, Role.PATIENT))
    refused = await client.post("/codec/session", headers=patient)
    assert refused.status_code == 403 and "set-cookie" not in refused.headers

    coordinator = headers_for(await create_user(sessionmaker, Role.COORDINATOR))
    opened = await client.post("/codec/session", headers=coordinator)
    assert opened.status_code == 200, opened.text
    cookie = opened.headers["set-cookie"].lower()
    assert "httponly" in cookie and "path=/api/v1/codec" in cookie and "samesite=strict" in cookie
    assert opened.json()["data"]["expires_in"] == settings.access_token_minutes * 60

    # The UI sends only the cookie (credentials: include), no Authorization header.
    decoded = await client.post("/codec/decode", json=body)
    assert decoded.status_code == 200, decoded.text
    assert json.loads(_proto(decoded.json())[0].data) == {"notes": NOTE}

    closed = await client.delete("/codec/session")
    assert closed.status_code == 200
    after = await client.post("/codec/decode", json=body)
    assert after.status_code == 401

    # A patient's token in the cookie is still a patient's.
    (token,) = [v.split()[1] for v in patient.values()]
    client.cookies.set("medivoy_codec", token, path="/api/v1/codec")
    assert (await client.post("/codec/decode", json=body)).status_code == 403


async def test_the_temporal_cli_reads_a_booking_in_clear_through_the_endpoint_only(
    app, client_with_worker, temporal_dev_server, sessionmaker
):
    """Temporal's own client speaks to the endpoint over a real socket: with it and a staff
    token `temporal workflow show` prints the diagnosis, without it only ciphertext."""
    people = await booking_people(sessionmaker)
    diagnosis = "Bilateral avascular necrosis of the femoral head"
    created = await client_with_worker.post(
        "/bookings",
        headers=people.patient,
        json={
            "hospital_id": str(people.hospital_id),
            "treatment_id": str(people.treatment_id),
            "medical_details": {"diagnosis": diagnosis},
        },
    )
    assert created.status_code == 201, created.text
    workflow_id = booking_workflow_id(uuid.UUID(created.json()["data"]["id"]))

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )

    async def show(*codec: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            binary("temporal"),
            "workflow",
            "show",
            "--address",
            temporal_dev_server.address,
            "--workflow-id",
            workflow_id,
            "--output",
            "json",
            "--command-timeout",
            "15s",
            *codec,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode is not None
        return process.returncode, out.decode()

    up = asyncio.Event()
    serving = asyncio.create_task(_serve(server, up))
    try:
        await asyncio.wait_for(up.wait(), timeout=30)
        endpoint = f"http://127.0.0.1:{port}/api/v1/codec"
        (staff_code, staff), (patient_code, patient), (plain_code, plain) = await asyncio.gather(
            show("--codec-endpoint", endpoint, "--codec-auth", people.coordinator["Authorization"]),
            show("--codec-endpoint", endpoint, "--codec-auth", people.patient["Authorization"]),
            show(),
        )
    finally:
        server.should_exit = True
        await serving
    assert staff_code == 0, staff
    assert diagnosis in payload_texts(staff)
    assert plain_code == 0, plain
    assert diagnosis not in payload_texts(plain) and "binary/encrypted" in payload_texts(plain)
    # The endpoint refuses a patient (403): the CLI cannot decode and gives up.
    assert patient_code != 0 and diagnosis not in payload_texts(patient)


async def _serve(server: uvicorn.Server, up: asyncio.Event) -> None:
    async def started() -> None:
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no event)
            await asyncio.sleep(0.05)
        up.set()

    watcher = asyncio.create_task(started())
    try:
        await server.serve()
    finally:
        watcher.cancel()


def payload_texts(output: str) -> str:
    """Every payload's metadata values and data, decoded from the base64 the CLI prints them
    in; "" for output that is not a JSON history."""
    try:
        history = json.loads(output)
    except ValueError:
        return ""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("metadata"), dict) and "data" in node:
                values = [*node["metadata"].values(), node["data"]]
                found.extend(base64.b64decode(v).decode(errors="replace") for v in values)
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(history)
    return "\n".join(found)
