"""The codec endpoint: Temporal's remote codec protocol, so staff read encrypted payloads in the UI.

The Temporal UI (and `temporal ... --codec-endpoint`) POST a JSON `{"payloads": [...]}` (proto3
JSON of temporal.api.common.v1.Payloads: base64 metadata values and data) to
`<endpoint>/decode` or `<endpoint>/encode` and get the same shape back; the endpoint to
configure is `<public base URL>/api/v1/codec`. Answers are the protocol's, not the envelope
(errors keep the envelope). Staff only: an admin's or coordinator's access token, or
MEDIVOY_CODEC_TOKEN, or the cookie POST /codec/session sets (a browser's Temporal UI); CORS
here lets only MEDIVOY_CODEC_CORS_ORIGINS (the UI) in.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Annotated

from cryptography.exceptions import InvalidTag
from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payload

from api.deps import DbSession, SettingsDep, bearer, get_current_user
from api.envelope import Envelope, ok
from domain.access import STAFF, Role
from domain.errors import Forbidden, Invalid, Unavailable
from runtime.codec import EncryptionCodec, PayloadKeyError

TAG = {
    "name": "codec",
    "description": "Temporal's remote codec protocol for the Temporal UI and CLI (staff only)",
}

PREFIX = "/codec"
router = APIRouter(prefix=PREFIX, tags=["codec"])


class CodecPayload(BaseModel):
    """One temporal.api.common.v1.Payload in proto3 JSON: bytes as base64."""

    metadata: dict[str, str] = Field(default_factory=dict)
    data: str = ""


class CodecPayloads(BaseModel):
    payloads: list[CodecPayload] = Field(default_factory=list)


COOKIE = "medivoy_codec"


async def _staff(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    credentials: HTTPAuthorizationCredentials | None,
) -> None:
    user = await get_current_user(request, db, settings, credentials)
    if Role(user.user_type) not in STAFF or not user.is_approved:
        raise Forbidden(
            "Only staff may read Temporal payloads",
            code="ROLE_NOT_ALLOWED",
            details={"allowed_roles": sorted(r.value for r in STAFF)},
        )


async def codec_caller(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """Staff (admin or coordinator) access tokens, sent as a bearer token or in the cookie of
    POST /codec/session (what the Temporal UI in a browser can send), or the codec token."""
    token = settings.codec_token.get_secret_value()
    if (
        token
        and credentials is not None
        and credentials.scheme.lower() == "bearer"
        and hmac.compare_digest(credentials.credentials.encode(), token.encode())
    ):
        return
    cookie = request.cookies.get(COOKIE)
    if credentials is None and cookie:
        credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=cookie)
    await _staff(request, db, settings, credentials)


def _codec(settings: SettingsDep) -> EncryptionCodec:
    codec = settings.payload_codec
    if codec is None:
        raise Unavailable(
            "No payload key is configured (MEDIVOY_PAYLOAD_KEYS): payloads are not encrypted",
            code="CODEC_NOT_CONFIGURED",
        )
    return codec


Codec = Annotated[EncryptionCodec, Depends(_codec)]
Caller = Depends(codec_caller)


def _b64(value: str, where: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Invalid(
            f"{where} is not base64", code="INVALID_PAYLOAD", details={"field": where}
        ) from exc


def _to_proto(body: CodecPayloads) -> list[Payload]:
    return [
        Payload(
            metadata={
                k: _b64(v, f"payloads[{i}].metadata.{k}") for k, v in payload.metadata.items()
            },
            data=_b64(payload.data, f"payloads[{i}].data"),
        )
        for i, payload in enumerate(body.payloads)
    ]


def _to_json(payloads: list[Payload]) -> CodecPayloads:
    return CodecPayloads(
        payloads=[
            CodecPayload(
                metadata={k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                data=base64.b64encode(p.data).decode(),
            )
            for p in payloads
        ]
    )


@router.post(
    "/encode",
    summary="Encrypt payloads (Temporal remote codec protocol)",
    dependencies=[Caller],
)
async def encode(body: CodecPayloads, codec: Codec) -> CodecPayloads:
    return _to_json(await codec.encode(_to_proto(body)))


@router.post(
    "/decode",
    summary="Decrypt payloads (Temporal remote codec protocol); others pass through",
    dependencies=[Caller],
)
async def decode(body: CodecPayloads, codec: Codec) -> CodecPayloads:
    try:
        return _to_json(await codec.decode(_to_proto(body)))
    except PayloadKeyError as exc:
        raise Invalid(str(exc), code="UNKNOWN_PAYLOAD_KEY") from exc
    except InvalidTag as exc:
        raise Invalid(
            "A payload does not decrypt with its key (altered, or sealed by another key)",
            code="PAYLOAD_NOT_DECRYPTABLE",
        ) from exc


def _cookie_path(request: Request) -> str:
    return request.url.path.rsplit("/", 1)[0]


@router.post(
    "/session",
    summary="Let this browser read payloads in the Temporal UI: a cookie for the codec only",
    response_model=Envelope[dict[str, int]],
)
async def open_session(
    request: Request,
    response: Response,
    db: DbSession,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Envelope[dict[str, int]]:
    """The Temporal UI calls the codec from the browser and can send cookies only (set it to
    include cross-origin credentials); this puts the caller's staff access token into an
    HttpOnly cookie scoped to the codec endpoint, for the token's lifetime."""
    await _staff(request, db, settings, credentials)
    assert credentials is not None
    seconds = settings.access_token_minutes * 60
    response.set_cookie(
        COOKIE,
        credentials.credentials,
        max_age=seconds,
        path=_cookie_path(request),
        httponly=True,
        secure=settings.public_base_url.startswith("https://"),
        samesite="strict",
    )
    return ok({"expires_in": seconds}, "This browser may read Temporal payloads")


@router.delete(
    "/session",
    summary="End this browser's codec session",
    response_model=Envelope[dict[str, int]],
)
async def close_session(request: Request, response: Response) -> Envelope[dict[str, int]]:
    response.delete_cookie(COOKIE, path=_cookie_path(request), httponly=True, samesite="strict")
    return ok({"expires_in": 0}, "This browser no longer reads Temporal payloads")
