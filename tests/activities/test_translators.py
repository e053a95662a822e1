"""The translation engines' adapters with their real clients (boto3, httpx) against local peers
speaking AWS Translate's and LibreTranslate's documented APIs."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import pytest

from activities.providers.translators import (
    AwsTranslate,
    EngineBusy,
    EngineRefused,
    LibreTranslate,
    RateLimit,
    aws_translate_client,
)
from activities.providers.wiring import build_translator
from runtime.settings import Settings

if TYPE_CHECKING:
    from tests.fixtures.translation_fixtures import Peer

pytest_plugins = ["tests.fixtures.translation_fixtures"]


def _aws(peer: Peer) -> AwsTranslate:
    client = aws_translate_client("us-east-1", peer.url, "AKIDLOCAL", "local-secret")
    return AwsTranslate(client, RateLimit(100))


async def test_aws_translate_returns_arabic_and_hindi_exactly(aws_translate: Peer) -> None:
    engine = _aws(aws_translate)
    assert await engine.translate("Knee Replacement", "en", "ar") == "استبدال الركبة"
    assert await engine.translate("Knee Replacement", "en", "hi") == "घुटना प्रतिस्थापन"
    assert aws_translate.calls == [
        ("en", "ar", "Knee Replacement"),
        ("en", "hi", "Knee Replacement"),
    ]


async def test_aws_unsupported_pair_is_refused_and_throttling_is_busy(aws_translate: Peer) -> None:
    engine = _aws(aws_translate)
    with pytest.raises(EngineRefused):
        await engine.translate("Hello", "en", "xx")
    aws_translate.failures.append(429)
    with pytest.raises(EngineBusy):
        await engine.translate("Hello", "en", "fr")
    assert await engine.translate("Hello", "en", "fr") == "[fr] Hello"


async def test_libretranslate_translates_and_sends_its_key(libretranslate: Peer) -> None:
    engine = LibreTranslate(libretranslate.url, RateLimit(100), api_key="lt-key")
    assert await engine.translate("Knee Replacement", "en", "ar") == "استبدال الركبة"
    assert libretranslate.api_keys == ["lt-key"]


async def test_libretranslate_refusal_and_outage_are_told_apart(libretranslate: Peer) -> None:
    engine = LibreTranslate(libretranslate.url, RateLimit(100))
    with pytest.raises(EngineRefused):
        await engine.translate("Hello", "en", "xx")
    libretranslate.failures.extend([429, 500])
    for _ in range(2):
        with pytest.raises(EngineBusy):
            await engine.translate("Hello", "en", "es")
    assert await engine.translate("Hello", "en", "es") == "[es] Hello"


@pytest.mark.parametrize("engine_name", ["libretranslate", "aws"])
async def test_engine_calls_keep_to_the_configured_rate(
    engine_name: str, libretranslate: Peer, aws_translate: Peer
) -> None:
    """MEDIVOY_TRANSLATION_RATE_PER_SECOND: calls made at once reach the engine spaced out."""
    peer = libretranslate if engine_name == "libretranslate" else aws_translate
    settings = Settings(
        _env_file=None,
        translation_engine=engine_name,
        translation_rate_per_second=5,
        libretranslate_url=libretranslate.url,
        aws_translate_endpoint_url=aws_translate.url,
        aws_access_key_id="AKIDLOCAL",
        aws_secret_access_key="local-secret",
    )
    engine = build_translator(settings)
    assert engine is not None and engine.name == engine_name
    texts = [f"Line {n}" for n in range(6)]
    asked = time.monotonic()
    answers = await asyncio.gather(*(engine.translate(t, "en", "fr") for t in texts))
    assert answers == [f"[fr] {t}" for t in texts]
    # Asked for all at once, the n-th call reaches the engine no sooner than n/5 s later
    # (without the limit all six arrive within a few milliseconds).
    since = sorted(arrival - asked for arrival in peer.arrivals)
    assert len(since) == len(texts)
    assert all(at >= n * 0.2 - 0.01 for n, at in enumerate(since)), since
