"""Metrics, traces and logs as ops see them: /metrics counts requests by route template, the
worker's Temporal SDK metrics and business counters are scrapeable, one trace runs from the API
request through the workflow into its activities, and logs are JSON with ids and no body."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pytest_httpserver import HTTPServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.app import create_app
from runtime import telemetry
from runtime.logging import configure_logging
from runtime.postgres import free_port
from runtime.settings import Settings
from runtime.temporal import connect
from runtime.temporal_server import TemporalDevServer
from tests.builders.helpers import eventually, outbox_for
from tests.fixtures.workers import SANDBOX

PATIENT = {
    "email": "observed.patient@example.com",
    "password": "Valid-Passw0rd!",
    "user_type": "patient",
    "first_name": "Observa",
    "last_name": "Tracewell",
    "phone": "+491701234567",
}
PERSONAL = ("observed.patient", "Observa", "Tracewell", "1701234567", "Valid-Passw0rd!")


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
        if not labels and line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def _scrape(client: httpx.AsyncClient) -> str:
    answer = await client.get("http://testserver/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return answer.text


async def test_metrics_count_requests_by_route_template_and_status(
    client: httpx.AsyncClient,
) -> None:
    before = await _scrape(client)
    route = "/api/v1/bookings/{booking_id}"
    ok_before = _sample(before, "medivoy_http_requests_total", route="/api/v1/health", status="200")
    for _ in range(2):
        assert (await client.get("/health")).status_code == 200
    booking = uuid.uuid4()
    refused = await client.get(f"/bookings/{booking}")
    assert refused.status_code == 401
    await client.get("/no-such-thing/" + uuid.uuid4().hex)

    after = await _scrape(client)
    assert (
        _sample(after, "medivoy_http_requests_total", route="/api/v1/health", status="200")
        == ok_before + 2
    )
    assert _sample(after, "medivoy_http_requests_total", route=route, status="401") >= 1
    assert (
        _sample(after, "medivoy_http_request_duration_seconds_count", route=route, status="401")
        >= 1
    )
    assert 'route="<unmatched>",status="404"' in after
    # Ids never become labels.
    assert str(booking) not in after
    assert "/no-such-thing" not in after


@pytest_asyncio.fixture(loop_scope="session")
async def traced(
    settings: Settings,
    temporal_dev_server: TemporalDevServer,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[tuple[httpx.AsyncClient, InMemorySpanExporter, str, FastAPI]]:
    """The API and a worker, both traced into one in-memory exporter; the worker's client runs
    on a Temporal runtime that serves the SDK's metrics on a port of its own."""
    from worker import build_worker

    spans = InMemorySpanExporter()
    provider = telemetry.tracer_provider(settings, "test", processor=SimpleSpanProcessor(spans))
    assert isinstance(provider, TracerProvider)
    metrics_port = free_port()
    worker_settings = settings.model_copy(update={"temporal_metrics_port": metrics_port})
    runtime = telemetry.worker_runtime(worker_settings)
    assert runtime is not None
    interceptors = telemetry.client_interceptors(provider)
    api_client = await connect(settings, temporal_dev_server.address, interceptors=interceptors)
    worker_client = await connect(
        settings, temporal_dev_server.address, interceptors=interceptors, runtime=runtime
    )
    app = create_app(settings, temporal=api_client, tracer_provider=provider)
    worker = build_worker(worker_client, settings, sessionmaker, workflow_runner=SANDBOX)
    async with app.router.lifespan_context(app), worker:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver/api/v1") as c:
            yield c, spans, f"http://127.0.0.1:{metrics_port}/metrics", app


def _chain(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    names = []
    current: ReadableSpan | None = span
    while current is not None:
        names.append(current.name)
        parent = current.parent
        current = by_id.get(parent.span_id) if parent is not None else None
    return names


async def test_one_trace_from_the_request_through_the_workflow_into_its_activities(
    traced: tuple[httpx.AsyncClient, InMemorySpanExporter, str, FastAPI],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    client, spans, sdk_metrics, _ = traced
    before = await _scrape(client)
    sent_before = _sample(before, "medivoy_notifications_total", channel="email", result="sent")
    answer = await client.post("/auth/register", json=PATIENT)
    assert answer.status_code == 201, answer.text
    await outbox_for(sessionmaker, PATIENT["email"])

    def finished() -> list[ReadableSpan] | None:
        done = list(spans.get_finished_spans())
        wanted = ("POST /api/v1/auth/register", "RunActivity:send_email")
        return done if all(any(s.name == w for s in done) for w in wanted) else None

    async def probe() -> list[ReadableSpan] | None:
        return finished()

    done = await eventually(probe)
    server = next(s for s in done if s.name == "POST /api/v1/auth/register")
    trace_id = server.context.trace_id
    in_trace = [s for s in done if s.context.trace_id == trace_id]
    by_id = {s.context.span_id: s for s in in_trace}
    names = {s.name for s in in_trace}
    assert any(n.startswith("StartWorkflow:") for n in names), names
    assert any(n.startswith("RunWorkflow:") for n in names), names
    activity = next(s for s in in_trace if s.name == "RunActivity:send_email")
    chain = _chain(activity, by_id)
    # The activity's ancestry reaches the API request: activity <- workflow <- start <- request.
    assert chain[-1] == "POST /api/v1/auth/register", chain
    assert any(n.startswith("StartActivity:") for n in chain), chain
    assert any(n.startswith("StartWorkflow:") for n in chain), chain
    assert server.attributes is not None and server.attributes["http.route"] == (
        "/api/v1/auth/register"
    )
    # No personal data rides on a span.
    dumped = json.dumps([s.to_json() for s in in_trace])
    for secret in PERSONAL:
        assert secret not in dumped

    # The business counter moved where the activity stored the delivery, in this process.
    after = await _scrape(client)
    assert _sample(after, "medivoy_notifications_total", channel="email", result="sent") == (
        sent_before + 1
    )
    # The worker's Temporal SDK metrics, on their own port.
    async with httpx.AsyncClient() as plain:
        sdk = (await plain.get(sdk_metrics, timeout=10)).text
    for metric in (
        "temporal_workflow_task_schedule_to_start_latency",
        "temporal_workflow_task_execution_latency",
        "temporal_sticky_cache_size",
    ):
        assert metric in sdk, f"{metric} missing from the SDK metrics"


def test_no_tracing_without_an_endpoint(settings: Settings) -> None:
    assert telemetry.tracer_provider(settings, "medivoy-api") is None
    assert telemetry.client_interceptors(None) == []
    assert create_app(settings).state.tracer_provider is None


async def test_spans_are_exported_over_otlp_when_an_endpoint_is_set(
    settings: Settings, temporal_client: Client, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/v1/traces", method="POST").respond_with_data("")
    configured = settings.model_copy(update={"otlp_endpoint": httpserver.url_for("/v1/traces")})
    app = create_app(configured, temporal=temporal_client)
    provider = app.state.tracer_provider
    assert provider is not None
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            assert (await c.get("/api/v1/health")).status_code == 200
        assert provider.force_flush(10_000)
    (request, _), *_ = httpserver.log
    assert request.headers["Content-Type"] == "application/x-protobuf"
    assert b"GET /api/v1/health" in request.get_data()


async def test_json_logs_carry_the_request_id_and_never_a_body(
    traced: tuple[httpx.AsyncClient, InMemorySpanExporter, str, FastAPI],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    client, _, _, _ = traced
    buffer = io.StringIO()
    configure_logging("INFO", json=True, stream=buffer)
    try:
        answer = await client.post(
            "/auth/register", json=PATIENT, headers={"X-Request-ID": "req-observed-1"}
        )
        assert answer.status_code == 201, answer.text
        bad = await client.post("/auth/register", json={**PATIENT, "email": "Observa at home"})
        assert bad.status_code == 422
        # The worker delivers the verification mail (its activities log too, if they do).
        await outbox_for(sessionmaker, PATIENT["email"])
    finally:
        configure_logging("WARNING", json=False)
    lines = [json.loads(line) for line in buffer.getvalue().splitlines() if line]
    request = next(
        line for line in lines if line.get("event") == "request" and line.get("status") == 201
    )
    assert request["request_id"] == "req-observed-1"
    assert request["path"] == "/api/v1/auth/register"
    assert any(line.get("event") == "request" and line.get("status") == 422 for line in lines)
    text = buffer.getvalue()
    for secret in PERSONAL:
        assert secret not in text, f"{secret!r} was logged"


async def test_worker_log_lines_carry_the_workflow_and_run_id(
    temporal_client: Client, task_queue: str
) -> None:
    from tests.fixtures.log_probe import LogProbeWorkflow, log_probe_activity
    from tests.fixtures.workers import new_worker

    buffer = io.StringIO()
    configure_logging("INFO", json=True, stream=buffer)
    workflow_id = "log-probe-" + uuid.uuid4().hex
    try:
        async with new_worker(
            temporal_client,
            task_queue,
            LogProbeWorkflow,
            activities=[log_probe_activity],
            interceptors=telemetry.worker_interceptors(),
        ):
            handle = await temporal_client.start_workflow(
                LogProbeWorkflow.run, "case-1", id=workflow_id, task_queue=task_queue
            )
            assert await handle.result() == "case-1"
    finally:
        configure_logging("WARNING", json=False)
    run_id = handle.result_run_id
    lines = [json.loads(line) for line in buffer.getvalue().splitlines() if line]
    by_event = {str(line.get("event", "")).split(" (")[0].split(" ({")[0]: line for line in lines}
    structlogged = by_event["probe_activity_structlog"]
    assert (structlogged["workflow_id"], structlogged["run_id"]) == (workflow_id, run_id)
    assert structlogged["activity"] == "log_probe_activity"
    stdlib = next(line for line in lines if str(line["event"]).startswith("probe activity stdlib"))
    assert (stdlib["workflow_id"], stdlib["run_id"]) == (workflow_id, run_id)
    in_workflow = next(line for line in lines if str(line["event"]).startswith("probe workflow"))
    assert (in_workflow["workflow_id"], in_workflow["run_id"]) == (workflow_id, run_id)
