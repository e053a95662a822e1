"""The payload codec: what Temporal stores is ciphertext naming its key; keys rotate without
losing old histories; payloads written before the codec pass through; tampering is caught."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.exceptions import InvalidTag
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from runtime.codec import ENCODING, KEY_ID, EncryptionCodec, PayloadKeyError, parse_key
from runtime.settings import Settings

OLD = b"o" * 32
NEW = b"n" * 32
DIAGNOSIS = "Chronic lumbar disc herniation"


async def _plain(text: str) -> Payload:
    (payload,) = pydantic_data_converter.payload_converter.to_payloads([{"diagnosis": text}])
    return payload


async def test_an_encrypted_payload_names_its_key_and_hides_its_content() -> None:
    codec = EncryptionCodec({"2026-12": NEW}, "2026-12")
    plain = await _plain(DIAGNOSIS)
    (sealed,) = await codec.encode([plain])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID] == b"2026-12"
    assert DIAGNOSIS.encode() not in sealed.SerializeToString()
    assert b"json/plain" not in sealed.SerializeToString(), "the inner encoding is sealed too"
    (opened,) = await codec.decode([sealed])
    assert opened == plain
    # Two seals of the same value differ (a fresh nonce each time).
    (again,) = await codec.encode([plain])
    assert again.data != sealed.data


async def test_a_rotated_key_seals_new_payloads_and_old_ones_still_open() -> None:
    before = EncryptionCodec({"k1": OLD}, "k1")
    (old_payload,) = await before.encode([await _plain("old visit")])
    after = EncryptionCodec({"k1": OLD, "k2": NEW}, "k2")
    (new_payload,) = await after.encode([await _plain("new visit")])
    assert new_payload.metadata[KEY_ID] == b"k2"
    opened = await after.decode([old_payload, new_payload])
    assert [json.loads(p.data)["diagnosis"] for p in opened] == ["old visit", "new visit"]
    # A codec that lost the old key says which key it needs.
    forgetful = EncryptionCodec({"k2": NEW}, "k2")
    with pytest.raises(PayloadKeyError, match="'k1'"):
        await forgetful.decode([old_payload])


async def test_payloads_without_the_encryption_pass_through_unchanged() -> None:
    codec = EncryptionCodec({"k1": OLD}, "k1")
    plain = await _plain("recorded before the codec")
    assert await codec.decode([plain]) == [plain]


async def test_a_tampered_payload_or_a_swapped_key_id_is_refused() -> None:
    codec = EncryptionCodec({"k1": OLD, "k2": NEW}, "k1")
    (sealed,) = await codec.encode([await _plain(DIAGNOSIS)])
    flipped = Payload()
    flipped.CopyFrom(sealed)
    flipped.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(InvalidTag):
        await codec.decode([flipped])
    relabelled = Payload()
    relabelled.CopyFrom(sealed)
    relabelled.metadata[KEY_ID] = b"k2"
    with pytest.raises(InvalidTag):
        await codec.decode([relabelled])


def test_key_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    # Not merged with the tests' own key (tests/conftest.py).
    monkeypatch.delenv("MEDIVOY_PAYLOAD_KEYS")
    monkeypatch.delenv("MEDIVOY_PAYLOAD_KEY_ID")
    assert parse_key("k", base64.b64encode(NEW).decode()) == NEW
    assert parse_key("k", base64.urlsafe_b64encode(NEW).decode().rstrip("=")) == NEW
    with pytest.raises(PayloadKeyError, match="5 bytes"):
        parse_key("k", base64.b64encode(b"short").decode())
    with pytest.raises(PayloadKeyError, match="not base64"):
        parse_key("k", "not base64 at all!")
    key = base64.b64encode(NEW).decode()
    with pytest.raises(ValueError, match="MEDIVOY_PAYLOAD_KEY_ID 'k9' is not a key"):
        Settings(_env_file=None, payload_keys={"k1": key}, payload_key_id="k9")
    with pytest.raises(ValueError, match="say which one encrypts"):
        Settings(_env_file=None, payload_keys={"k1": key, "k2": key}, payload_key_id="")
    rotated = Settings(_env_file=None, payload_keys={"k1": key, "k2": key}, payload_key_id="k2")
    assert rotated.payload_codec is not None and rotated.payload_codec.current_key_id == "k2"
    assert Settings(_env_file=None).payload_codec is None, "no key: no codec (not production)"
