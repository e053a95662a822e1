"""Push notifications through Firebase Cloud Messaging's HTTP v1 API: a service-account JWT is
exchanged for an OAuth2 access token (cached until shortly before it expires), then each message
is POSTed to /v1/projects/{project}/messages:send."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt

from activities.providers.channels import DeliveryError, is_permanent_status

TIMEOUT_SECONDS = 30.0
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_URI = "https://oauth2.googleapis.com/token"
FCM_BASE_URL = "https://fcm.googleapis.com"
# A token is renewed this long before Google says it expires.
REFRESH_MARGIN_SECONDS = 60


class DeviceTokenInvalid(DeliveryError):
    """FCM no longer knows this device token (the app was removed): forget the device."""

    def __init__(self, summary: str) -> None:
        super().__init__(summary, permanent=True)


class FcmPush:
    provider = "fcm"

    def __init__(
        self,
        project_id: str,
        client_email: str,
        private_key: str,
        *,
        token_uri: str = TOKEN_URI,
        base_url: str = FCM_BASE_URL,
    ) -> None:
        if not (project_id and client_email and private_key):
            raise ValueError("FcmPush needs the Firebase project, client e-mail and private key")
        self._project_id = project_id
        self._client_email = client_email
        # Environment variables often carry the PEM's newlines escaped.
        self._private_key = private_key.replace("\\n", "\n")
        self._token_uri = token_uri
        self._base_url = base_url.rstrip("/")
        self._access_token = ""
        self._expires_at = 0.0

    async def _token(self, client: httpx.AsyncClient) -> str:
        now = time.time()
        if self._access_token and now < self._expires_at - REFRESH_MARGIN_SECONDS:
            return self._access_token
        assertion = jwt.encode(
            {
                "iss": self._client_email,
                "scope": SCOPE,
                "aud": self._token_uri,
                "iat": int(now),
                "exp": int(now) + 3600,
            },
            self._private_key,
            algorithm="RS256",
        )
        response = await client.post(
            self._token_uri, data={"grant_type": GRANT_TYPE, "assertion": assertion}
        )
        if response.status_code != 200:
            raise DeliveryError(
                f"fcm oauth HTTP {response.status_code}",
                permanent=is_permanent_status(response.status_code),
            )
        answer = response.json()
        self._access_token = str(answer["access_token"])
        self._expires_at = now + float(answer.get("expires_in", 3600))
        return self._access_token

    async def send_push(
        self, device_token: str, title: str, body: str, data: dict[str, str] | None = None
    ) -> str:
        """Send one message to one device; return FCM's message name."""
        message: dict[str, Any] = {
            "token": device_token,
            "notification": {"title": title, "body": body},
        }
        if data:
            message["data"] = data
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
            token = await self._token(client)
            response = await client.post(
                f"{self._base_url}/v1/projects/{self._project_id}/messages:send",
                json={"message": message},
                headers={"Authorization": f"Bearer {token}"},
            )
        if response.status_code == 200:
            name = response.json().get("name")
            if not name:
                raise DeliveryError("fcm response without a message name")
            return str(name)
        error_code = _fcm_error_code(response)
        summary = f"fcm HTTP {response.status_code} ({error_code or 'no error code'})"
        if error_code == "UNREGISTERED" or response.status_code == 404:
            raise DeviceTokenInvalid(summary)
        raise DeliveryError(summary, permanent=is_permanent_status(response.status_code))


def _fcm_error_code(response: httpx.Response) -> str | None:
    """FCM's own code (UNREGISTERED, INVALID_ARGUMENT, QUOTA_EXCEEDED...) from the error's
    details, as the v1 API documents it."""
    try:
        details = response.json()["error"].get("details", [])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and detail.get("errorCode"):
            return str(detail["errorCode"])
    return None
