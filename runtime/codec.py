"""The payload codec: every payload Medivoy hands Temporal is encrypted (AES-GCM) before it leaves.

Temporal stores workflow inputs, results, activity arguments, signals, updates and failures in
its history; with this codec on the data converter the server (and anyone reading its database
or UI without the key) sees ciphertext only. Each encrypted payload names the key that sealed it
(`encryption-key-id`), so keys rotate: MEDIVOY_PAYLOAD_KEY_ID encrypts new payloads and every key
in MEDIVOY_PAYLOAD_KEYS still decrypts old ones. A payload without our encoding (histories
recorded before the codec, or written by a client without it) passes through as it is.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
from collections.abc import Iterator, Mapping, Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12
KEY_BYTES = (16, 24, 32)


class PayloadKeyError(ValueError):
    """A key setting that cannot be used, or a payload sealed with a key we do not hold."""


def parse_key(key_id: str, value: str) -> bytes:
    """A key from settings: base64 (standard or URL-safe) of 16, 24 or 32 random bytes."""
    text = value.strip().replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PayloadKeyError(f"payload key {key_id!r} is not base64") from exc
    if len(raw) not in KEY_BYTES:
        raise PayloadKeyError(
            f"payload key {key_id!r} is {len(raw)} bytes: use 32 random bytes in base64 "
            "(e.g. `openssl rand -base64 32`)"
        )
    return raw


def new_key() -> str:
    """A fresh 256-bit key in the settings' form (what `medivoy dev` generates)."""
    return base64.b64encode(os.urandom(32)).decode()


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over the whole serialized payload (its metadata too), sealed by `current`."""

    def __init__(self, keys: Mapping[str, bytes], current: str) -> None:
        if current not in keys:
            raise PayloadKeyError(f"the current payload key {current!r} is not among the keys")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._current = current

    @property
    def current_key_id(self) -> str:
        return self._current

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._seal(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._open(p) for p in payloads]

    def _seal(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        key_id = self._current.encode()
        sealed = self._ciphers[self._current].encrypt(nonce, payload.SerializeToString(), key_id)
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: key_id},
            data=nonce + sealed,
        )

    def _open(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID, b"")
        cipher = self._ciphers.get(key_id.decode(errors="replace"))
        if cipher is None:
            raise PayloadKeyError(
                f"payload sealed with key {key_id.decode(errors='replace')!r}, which is not in "
                "MEDIVOY_PAYLOAD_KEYS: add the old key back (keys are only ever added)"
            )
        plain = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], key_id)
        return Payload.FromString(plain)


def codec_from_settings(keys: Mapping[str, str], current: str) -> EncryptionCodec | None:
    """The codec for these settings, or None when no key is configured (development only)."""
    if not keys:
        return None
    parsed = {key_id: parse_key(key_id, value) for key_id, value in keys.items()}
    return EncryptionCodec(parsed, current or next(iter(parsed)))


def data_converter(codec: PayloadCodec | None) -> DataConverter:
    """The pydantic converter (dates, Decimals) with the codec. Failures (messages and stack
    traces, which may quote what a person typed) go into encoded attributes, so they are
    encrypted too."""
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Payload anywhere inside a proto message (nested, repeated and map fields): what a
    history event carries as input, result, signal, update, failure, memo or search attribute."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            for item in value.values():
                if isinstance(item, Message):
                    yield from payloads_in(item)
        elif field.is_repeated:
            for item in value:
                yield from payloads_in(item)
        else:
            yield from payloads_in(value)
