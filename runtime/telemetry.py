"""Traces (OpenTelemetry, exported over OTLP only when MEDIVOY_OTLP_ENDPOINT is set), the worker's
Temporal SDK metrics (Prometheus), and the workflow and run ids on every activity's log lines.

One trace per API request: the API's server span (api/metrics.py), the Temporal client's
StartWorkflow span, and on the worker RunWorkflow, StartActivity and RunActivity spans, linked
through Temporal headers by temporalio.contrib.opentelemetry's TracingInterceptor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from temporalio import activity
from temporalio.client import Interceptor as ClientInterceptor
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from runtime.settings import Settings

TRACER_NAME = "medivoy"


def tracer_provider(
    settings: Settings, service: str, *, processor: SpanProcessor | None = None
) -> TracerProvider | None:
    """A provider exporting to MEDIVOY_OTLP_ENDPOINT (or to `processor`, for tests); None when
    neither is given: then nothing is traced and nothing is exported."""
    if processor is None:
        if not settings.otlp_endpoint:
            return None
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter: SpanExporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint)
        processor = BatchSpanProcessor(exporter)
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "deployment.environment": settings.env})
    )
    provider.add_span_processor(processor)
    return provider


def tracer(provider: TracerProvider | None) -> trace.Tracer | None:
    return provider.get_tracer(TRACER_NAME) if provider is not None else None


def client_interceptors(provider: TracerProvider | None) -> list[ClientInterceptor]:
    """For Client.connect: a worker built on the client uses them too."""
    if provider is None:
        return []
    return [TracingInterceptor(provider.get_tracer(TRACER_NAME))]


def worker_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime serving the SDK's metrics on MEDIVOY_TEMPORAL_METRICS_PORT (else None:
    the default runtime, no metrics endpoint)."""
    if not settings.temporal_metrics_port:
        return None
    bind = f"{settings.metrics_host}:{settings.temporal_metrics_port}"
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind)))


class _LogContextActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        ids = {
            "workflow_id": info.workflow_id,
            "run_id": info.workflow_run_id,
            "activity": info.activity_type,
        }
        with structlog.contextvars.bound_contextvars(**ids):
            return await super().execute_activity(input)


class LogContextInterceptor(Interceptor):
    """Binds the workflow id, run id and activity type to every log line an activity writes."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _LogContextActivityInbound(super().intercept_activity(next))


def worker_interceptors() -> Sequence[Interceptor]:
    return [LogContextInterceptor()]
