"""ASGI middleware: request id and context, JSON access log, body-size limit, security headers,
and a last-resort 500 that never leaks a stack trace."""

from __future__ import annotations

import ipaddress
import json
import time
import uuid
from typing import Any

import structlog
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import context
from api.envelope import error_body
from runtime.logging import log

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
# The API answers JSON and files only; the interactive docs need their scripts.
API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
DOC_PATHS = ("/docs", "/redoc")
INTERNAL_MESSAGE = (
    "Something went wrong on our side. Quote the request id when you contact support."
)


class BodyTooLarge(Exception):
    pass


# A NUL character: no text column can hold it, so it is refused up front (400).
NUL_MESSAGE = "The request contains a NUL character, which no field accepts"


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(proxies: list[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in proxies if p.strip())


def _is_trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(
    peer: str | None, forwarded_for: str | None, networks: tuple[Network, ...]
) -> str | None:
    """The caller's address: the socket peer, unless the peer is a trusted proxy; then the
    right-most X-Forwarded-For entry that is not itself a trusted proxy (entries further left
    were written by the client and prove nothing)."""
    if peer is None or not networks or not _is_trusted(peer, networks) or not forwarded_for:
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, networks):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # garbage from beyond the proxy: keep what we know
    return hops[0] if hops else peer


def _valid_request_id(value: str) -> bool:
    return 0 < len(value) <= 128 and all(c.isalnum() or c in "-_.:" for c in value)


class RequestMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        large_body_paths: dict[str, int],
        trusted_proxies: list[str] | None = None,
        locales: tuple[str, ...] = (),
    ):
        self.app = app
        self.locales = locales
        self.trusted = trusted_networks(trusted_proxies or [])
        self.max_body_bytes = max_body_bytes
        self.large_body_paths = large_body_paths

    def _limit(self, path: str) -> int:
        for prefix, limit in self.large_body_paths.items():
            if path.startswith(prefix):
                return limit
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-request-id", "")
        request_id = given if _valid_request_id(given) else uuid.uuid4().hex
        client = scope.get("client")
        ctx = context.RequestContext(
            request_id=request_id,
            ip=client_address(
                client[0] if client else None, headers.get("x-forwarded-for"), self.trusted
            ),
            user_agent=headers.get("user-agent"),
            locales=self.locales,
        )
        token = context.current.set(ctx)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        path: str = scope["path"]
        limit = self._limit(path)
        started = time.perf_counter()
        status_holder: dict[str, Any] = {"status": None}

        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._send_error(
                send,
                request_id,
                413,
                "PAYLOAD_TOO_LARGE",
                f"The request body is larger than {limit} bytes",
            )
            self._finish(ctx, token, scope, 413, started)
            return

        if "\x00" in path or b"%00" in scope.get("query_string", b"").lower():
            await self._send_error(send, request_id, 400, "INVALID_CHARACTERS", NUL_MESSAGE)
            self._finish(ctx, token, scope, 400, started)
            return

        received = 0
        is_json = "json" in headers.get("content-type", "")
        tail = b""
        nul_seen = {"seen": False}
        too_large = {"seen": False}

        async def limited_receive() -> Message:
            nonlocal received, tail
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > limit:
                    # Whatever the app makes of it (a parser may wrap it in its own 400), the
                    # answer is ours: a 413 in the envelope (see send_with_headers).
                    too_large["seen"] = True
                    raise BodyTooLarge(f"The request body is larger than {limit} bytes")
                if is_json:
                    window = tail + chunk
                    if b"\\u0000" in window or b"\x00" in window:
                        # Whatever the app makes of the rest, the answer is ours (see below).
                        nul_seen["seen"] = True
                        return {"type": "http.request", "body": b"", "more_body": False}
                    tail = window[-5:]
            return message

        async def send_with_headers(message: Message) -> None:
            if too_large["seen"]:
                if message["type"] == "http.response.start" and status_holder["status"] is None:
                    status_holder["status"] = 413
                    await self._send_error(
                        send,
                        request_id,
                        413,
                        "PAYLOAD_TOO_LARGE",
                        f"The request body is larger than {limit} bytes",
                    )
                return
            if nul_seen["seen"]:
                if message["type"] == "http.response.start" and status_holder["status"] is None:
                    status_holder["status"] = 400
                    await self._send_error(send, request_id, 400, "INVALID_CHARACTERS", NUL_MESSAGE)
                return
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                extra = [(b"x-request-id", request_id.encode())]
                # No header names the software that answers (uvicorn's is off in cli.main).
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"]
                existing = {k.lower() for k, _ in kept}
                for key, value in SECURITY_HEADERS:
                    if key not in existing:
                        extra.append((key, value))
                if not path.startswith(DOC_PATHS) and path != "/openapi.json":
                    extra.append(API_CSP)
                message["headers"] = [*kept, *extra]
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except BodyTooLarge:
            if status_holder["status"] is None:
                await self._send_error(
                    send,
                    request_id,
                    413,
                    "PAYLOAD_TOO_LARGE",
                    f"The request body is larger than {limit} bytes",
                )
                status_holder["status"] = 413
        except Exception as exc:
            log.exception("unhandled_error", error=type(exc).__name__)
            if status_holder["status"] is None:
                await self._send_error(
                    send,
                    request_id,
                    500,
                    "INTERNAL_ERROR",
                    INTERNAL_MESSAGE,
                    {"request_id": request_id},
                )
                status_holder["status"] = 500
        finally:
            self._finish(ctx, token, scope, status_holder["status"], started)

    @staticmethod
    def _finish(
        ctx: context.RequestContext, token: Any, scope: Scope, status: int | None, started: float
    ) -> None:
        log.info(
            "request",
            method=scope["method"],
            path=scope["path"],
            status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            user_id=str(ctx.user_id) if ctx.user_id else None,
            **ctx.extra,
        )
        structlog.contextvars.unbind_contextvars("request_id")
        context.current.reset(token)

    @staticmethod
    async def _send_error(
        send: Send, request_id: str, status: int, code: str, message: str, details: Any = None
    ) -> None:
        body = json.dumps(error_body(code, message, details)).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode()),
            *SECURITY_HEADERS,
            API_CSP,
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class PathCORS:
    """CORS by path: requests under `prefix` get the `inside` policy, all others `outside`
    (each a CORSMiddleware's keyword arguments; None: no CORS there, so browsers refuse)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        prefix: str,
        inside: dict[str, Any] | None,
        outside: dict[str, Any] | None,
    ) -> None:
        self.prefix = prefix
        self.inside: ASGIApp = CORSMiddleware(app, **inside) if inside else app
        self.outside: ASGIApp = CORSMiddleware(app, **outside) if outside else app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        inside = path == self.prefix or path.startswith(self.prefix + "/")
        await (self.inside if inside else self.outside)(scope, receive, send)
