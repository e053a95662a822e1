"""The FCM HTTP v1 adapter against a local server speaking Google's OAuth2 token endpoint
(service-account JWT bearer grant) and FCM's messages:send."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr
from pytest_httpserver import HTTPServer

from activities.providers.channels import DeliveryError
from activities.providers.fcm_push import DeviceTokenInvalid, FcmPush
from activities.providers.wiring import build_push
from runtime.settings import Settings
from tests.fixtures.fcm import CLIENT_EMAIL, PROJECT, SEND_PATH, Google, fcm_push, google, key_pair

__all__ = ["google", "key_pair"]  # fixtures of the local FCM peer


def _push(httpserver: HTTPServer, key_pair: tuple[str, rsa.RSAPublicKey]) -> FcmPush:
    return fcm_push(httpserver, key_pair)


async def test_a_push_is_sent_with_a_service_account_token_reused_until_it_expires(
    httpserver: HTTPServer, google: Google, key_pair: tuple[str, rsa.RSAPublicKey]
) -> None:
    push = _push(httpserver, key_pair)

    first = await push.send_push("device-1", "Your consultation", "Tomorrow at 10:00", {"k": "v"})
    second = await push.send_push("device-2", "Your consultation", "In one hour")

    assert first == f"projects/{PROJECT}/messages/1"
    assert second == f"projects/{PROJECT}/messages/2"
    assert google.tokens_issued == 1
    assert google.sent[0] == {
        "token": "device-1",
        "notification": {"title": "Your consultation", "body": "Tomorrow at 10:00"},
        "data": {"k": "v"},
    }
    assert "data" not in google.sent[1]


async def test_an_unregistered_device_is_a_permanent_invalid_token(
    httpserver: HTTPServer, google: Google, key_pair: tuple[str, rsa.RSAPublicKey]
) -> None:
    google.unregistered.add("gone-device")

    with pytest.raises(DeviceTokenInvalid) as raised:
        await _push(httpserver, key_pair).send_push("gone-device", "t", "b")

    assert raised.value.permanent
    assert raised.value.summary == "fcm HTTP 404 (UNREGISTERED)"


async def test_a_key_google_does_not_accept_fails_before_any_message(
    httpserver: HTTPServer, key_pair: tuple[str, rsa.RSAPublicKey]
) -> None:
    httpserver.expect_request("/token", method="POST").respond_with_json(
        {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, status=400
    )

    with pytest.raises(DeliveryError, match="fcm oauth HTTP 400"):
        await _push(httpserver, key_pair).send_push("device-1", "t", "b")
    assert all(request.path != SEND_PATH for request, _ in httpserver.log)


def test_the_wiring_builds_push_only_when_firebase_is_configured(
    key_pair: tuple[str, rsa.RSAPublicKey],
) -> None:
    assert build_push(Settings(_env_file=None)) is None
    configured = Settings(
        _env_file=None,
        firebase_project_id=PROJECT,
        firebase_client_email=CLIENT_EMAIL,
        firebase_private_key=SecretStr(key_pair[0]),
    )
    assert isinstance(build_push(configured), FcmPush)
