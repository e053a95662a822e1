"""Translation engines: one small port (`Translator`) and its adapters, AWS Translate (boto3) and
LibreTranslate (its HTTP API, POST /translate). The wiring picks one from settings; with none
configured there is no translator and every translation waits for a person.

Every adapter calls through a `RateLimit` (calls per second, per process) and sorts its failures
into `EngineBusy` (retry later: throttled, down, timed out) and `EngineRefused` (this text will
never translate here: an unsupported language pair, a text too long), which the activity turns
into a retry or a translation left for a person."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

import httpx


class EngineBusy(Exception):
    """The engine could not answer now; a later try may work."""


class EngineRefused(Exception):
    """The engine will not translate this text (its answer will not change on a retry)."""


class RateLimit:
    """At most `per_second` calls a second: each call waits for its slot."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            await asyncio.sleep(delay)


class Translator(Protocol):
    # The engine's name: the key of its monthly budget (settings) and its charges.
    name: str

    async def translate(self, text: str, source: str, target: str) -> str: ...


class AwsTranslate:
    """AWS Translate's TranslateText through boto3 (run in a thread: boto3 is synchronous)."""

    name = "aws"

    def __init__(self, client: Any, limit: RateLimit) -> None:
        self.client = client
        self.limit = limit

    async def translate(self, text: str, source: str, target: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        await self.limit.wait()
        try:
            answer = await asyncio.to_thread(
                self.client.translate_text,
                Text=text,
                SourceLanguageCode=source,
                TargetLanguageCode=target,
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in (
                "UnsupportedLanguagePairException",
                "TextSizeLimitExceededException",
                "InvalidRequestException",
                "DetectedLanguageLowConfidenceException",
            ):
                raise EngineRefused(code) from exc
            raise EngineBusy(code or "aws error") from exc
        except BotoCoreError as exc:
            raise EngineBusy(type(exc).__name__) from exc
        return str(answer["TranslatedText"])


class LibreTranslate:
    """LibreTranslate's POST /translate: {q, source, target, format, api_key} -> translatedText."""

    name = "libretranslate"

    def __init__(self, base_url: str, limit: RateLimit, api_key: str = "") -> None:
        self.base_url = base_url.rstrip("/")
        self.limit = limit
        self.api_key = api_key

    async def translate(self, text: str, source: str, target: str) -> str:
        body: dict[str, str] = {"q": text, "source": source, "target": target, "format": "text"}
        if self.api_key:
            body["api_key"] = self.api_key
        await self.limit.wait()
        try:
            async with httpx.AsyncClient(timeout=30) as http:
                response = await http.post(f"{self.base_url}/translate", json=body)
        except httpx.HTTPError as exc:
            raise EngineBusy(type(exc).__name__) from exc
        if response.status_code == 400:
            raise EngineRefused(_error_of(response))
        if response.status_code != 200:
            # 403 (a bad key), 429 (slow down), 5xx: a person or time fixes these.
            raise EngineBusy(f"{response.status_code} {_error_of(response)}")
        return str(response.json()["translatedText"])


def _error_of(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", ""))[:200]
    except ValueError:
        return ""


def aws_translate_client(
    region: str, endpoint_url: str | None, key_id: str | None, secret: str | None
) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "translate",
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        # The activity retries with backoff; one try per activity attempt.
        config=Config(retries={"total_max_attempts": 1}),
    )
