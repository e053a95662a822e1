"""The Temporal client: one data converter (pydantic, so dates and Decimals survive) for all."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from runtime.settings import Settings


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
        data_converter=pydantic_data_converter,
        interceptors=interceptors,
        runtime=runtime,
    )
