"""The Temporal client: one data converter for all (pydantic, so dates and Decimals survive, with
the payload encryption codec of runtime/codec.py when a key is set)."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.client import Client, Interceptor
from temporalio.converter import DataConverter
from temporalio.runtime import Runtime

from runtime.codec import data_converter
from runtime.settings import Settings


def converter(settings: Settings) -> DataConverter:
    """The data converter of every client, worker, replayer and test environment."""
    return data_converter(settings.payload_codec)


async def connect(
    settings: Settings,
    address: str | None = None,
    *,
    interceptors: Sequence[Interceptor] = (),
    runtime: Runtime | None = None,
) -> Client:
    """`interceptors`: tracing (runtime/telemetry.py); `runtime`: the worker's, with metrics."""
    return await Client.connect(
        address or settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=converter(settings),
        interceptors=interceptors,
        runtime=runtime,
    )
