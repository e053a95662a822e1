"""The API's Prometheus metrics and its OpenTelemetry server span, one ASGI middleware for both.

Requests are counted and timed by method, route template (`/api/v1/bookings/{booking_id}`, never
the path itself, so ids do not become labels) and status. Each request is also a server span
(continuing an incoming `traceparent`); the Temporal client's tracing interceptor makes the
workflows it starts children of it. `/metrics` serves this process's registry: the request metrics
and whatever else the process counts.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter(
    "medivoy_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "medivoy_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route template and status",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
# Paths no route matched share one label (a scanner's paths must not become time series).
UNMATCHED = "<unmatched>"
METRICS_PATH = "/metrics"

router = APIRouter()


@router.get(METRICS_PATH, include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _route_of(scope: Scope) -> str:
    """The matched route's template: the path with each path parameter's segment put back as
    `{name}` (routing leaves the route and its parameters in the scope)."""
    if scope.get("route") is None:
        return UNMATCHED
    values = {str(v): k for k, v in (scope.get("path_params") or {}).items()}
    segments = str(scope["path"]).split("/")
    return "/".join("{" + values[s] + "}" if s in values else s for s in segments)


class TelemetryMiddleware:
    def __init__(self, app: ASGIApp, *, tracer: trace.Tracer | None) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == METRICS_PATH:
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        status = {"code": 500}

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        started = time.perf_counter()
        span: Any = None
        token: Any = None
        if self.tracer is not None:
            carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            span = self.tracer.start_span(
                method, context=propagate.extract(carrier), kind=SpanKind.SERVER
            )
            token = trace.use_span(span, end_on_exit=False)
            token.__enter__()
        try:
            await self.app(scope, receive, send_status)
        finally:
            route = _route_of(scope)
            code = str(status["code"])
            REQUESTS.labels(method=method, route=route, status=code).inc()
            LATENCY.labels(method=method, route=route, status=code).observe(
                time.perf_counter() - started
            )
            if span is not None:
                span.update_name(f"{method} {route}")
                span.set_attribute("http.request.method", method)
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status["code"])
                if status["code"] >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                token.__exit__(None, None, None)
                span.end()
