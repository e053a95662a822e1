"""The FCM HTTP v1 adapter against a local server speaking Google's OAuth2 token endpoint
(service-account JWT bearer grant) and FCM's messages:send."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from activities.providers.channels import DeliveryError
from activities.providers.fcm_push import SCOPE, DeviceTokenInvalid, FcmPush
from activities.providers.wiring import build_push
from runtime.settings import Settings

PROJECT = "medivoy-test"
CLIENT_EMAIL = "push@medivoy-test.iam.gserviceaccount.com"
SEND_PATH = f"/v1/projects/{PROJECT}/messages:send"
ACCESS_TOKEN = "ya29.local-access-token"


@pytest.fixture(scope="module")
def key_pair() -> tuple[str, rsa.RSAPublicKey]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return pem, private.public_key()


class Google:
    """The token endpoint checks the assertion the way Google does (RS256 under the service
    account's key, issuer, audience, scope); messages:send wants the token it handed out."""

    def __init__(self, public_key: rsa.RSAPublicKey, token_uri: str) -> None:
        self.public_key = public_key
        self.token_uri = token_uri
        self.tokens_issued = 0
        self.sent: list[dict[str, object]] = []
        self.unregistered: set[str] = set()

    def token(self, request: Request) -> Response:
        form = parse_qs(request.get_data(as_text=True))
        assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
        claims = jwt.decode(
            form["assertion"][0], self.public_key, algorithms=["RS256"], audience=self.token_uri
        )
        assert claims["iss"] == CLIENT_EMAIL and claims["scope"] == SCOPE
        self.tokens_issued += 1
        body = {"access_token": ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer"}
        return Response(json.dumps(body), content_type="application/json")

    def send(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
            return Response(json.dumps({"error": {"code": 401}}), status=401)
        message = request.get_json()["message"]
        self.sent.append(message)
        if message["token"] in self.unregistered:
            error = {
                "error": {
                    "code": 404,
                    "status": "NOT_FOUND",
                    "details": [
                        {
                            "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                            "errorCode": "UNREGISTERED",
                        }
                    ],
                }
            }
            return Response(json.dumps(error), status=404, content_type="application/json")
        name = f"projects/{PROJECT}/messages/{len(self.sent)}"
        return Response(json.dumps({"name": name}), content_type="application/json")


@pytest.fixture
def google(httpserver: HTTPServer, key_pair: tuple[str, rsa.RSAPublicKey]) -> Google:
    server = Google(key_pair[1], httpserver.url_for("/token"))
    httpserver.expect_request("/token", method="POST").respond_with_handler(server.token)
    httpserver.expect_request(SEND_PATH, method="POST").respond_with_handler(server.send)
    return server


def _push(httpserver: HTTPServer, key_pair: tuple[str, rsa.RSAPublicKey]) -> FcmPush:
    return FcmPush(
        PROJECT,
        CLIENT_EMAIL,
        # As an environment variable carries it: newlines escaped.
        key_pair[0].replace("\n", "\\n"),
        token_uri=httpserver.url_for("/token"),
        base_url=httpserver.url_for("/").rstrip("/"),
    )


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
