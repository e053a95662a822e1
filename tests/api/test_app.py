"""The API skeleton: envelope, request ids, security headers, errors that never leak."""

from __future__ import annotations


async def test_request_id_is_echoed_or_generated(client):
    given = await client.get("/health", headers={"X-Request-ID": "trace-abc-123"})
    assert given.headers["X-Request-ID"] == "trace-abc-123"
    generated = await client.get("/health")
    assert len(generated.headers["X-Request-ID"]) >= 16


async def test_security_headers_are_set(client):
    response = await client.get("/health")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


async def test_unexpected_error_is_a_500_with_request_id_and_no_trace(app, client):
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    app.add_api_route("/api/v1/boom-test", boom)
    response = await client.get("/boom-test", headers={"X-Request-ID": "req-500-check"})
    assert response.status_code == 500
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "INTERNAL_ERROR"
    assert body["error"]["details"]["request_id"] == "req-500-check"
    assert "hunter2" not in response.text and "Traceback" not in response.text


async def test_unknown_route_answers_the_envelope(client):
    response = await client.get("/no-such-thing")
    assert response.status_code == 404
    assert response.json()["success"] is False
    assert response.json()["error"]["code"] == "NOT_FOUND"


async def test_openapi_lists_tags_and_the_bearer_scheme(client):
    response = await client.get("http://testserver/openapi.json")
    spec = response.json()
    assert {t["name"] for t in spec["tags"]} >= {"auth", "users", "notifications", "health"}
    assert any(s.get("scheme") == "bearer" for s in spec["components"]["securitySchemes"].values())
    assert "/api/v1/auth/register" in spec["paths"]


async def test_nul_characters_are_refused_with_a_clear_error(client):
    query = await client.get("/hospitals", params={"search": "abc\x00def"})
    assert query.status_code == 400
    assert query.json()["error"]["code"] == "INVALID_CHARACTERS"
    body = await client.post(
        "/auth/login",
        content=b'{"email": "a@example.com", "password": "x\\u0000y"}',
        headers={"content-type": "application/json"},
    )
    assert body.status_code == 400
    assert body.json()["error"]["code"] == "INVALID_CHARACTERS"


def _same_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"success", "message", "error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["success"] is False and body["error"]["code"] == code, body
    assert body["error"]["message"] == body["message"] and body["message"], body
    return body


async def test_errors_the_middleware_makes_have_the_envelope_and_codes_of_the_rest(client):
    json_type = {"content-type": "application/json"}
    # What the routes answer, for comparison.
    _same_envelope(await client.get("/no-such-thing"), 404, "NOT_FOUND")
    _same_envelope(
        await client.post("/auth/login", content=b"{not json", headers=json_type),
        400,
        "MALFORMED_JSON",
    )
    _same_envelope(await client.post("/auth/login", json={}), 422, "VALIDATION_ERROR")

    too_big = b'{"email": "' + b"a" * 2_000_000 + b'"}'
    _same_envelope(
        await client.post("/auth/login", content=too_big, headers=json_type),
        413,
        "PAYLOAD_TOO_LARGE",
    )

    async def streamed():  # no Content-Length: the limit is found while reading
        yield b'{"email": "'
        for _ in range(40):
            yield b"a" * 50_000
        yield b'"}'

    _same_envelope(
        await client.post("/auth/login", content=streamed(), headers=json_type),
        413,
        "PAYLOAD_TOO_LARGE",
    )
    _same_envelope(await client.get("/hospitals/abc%00"), 400, "INVALID_CHARACTERS")
    _same_envelope(
        await client.post("/auth/login", content=b'{"email": "a\\u0000"}', headers=json_type),
        400,
        "INVALID_CHARACTERS",
    )
    for deep in (b"[" * 5000 + b"]" * 5000, b'{"a":' * 5000 + b"1" + b"}" * 5000):
        body = _same_envelope(
            await client.post("/auth/login", content=deep, headers=json_type),
            400,
            "MALFORMED_JSON",
        )
        assert "nested too deeply" in body["message"]


async def test_no_response_names_the_server_software(app, client, settings):
    import asyncio

    import httpx
    import uvicorn

    from cli.main import api_server_config
    from runtime.postgres import free_port

    async def named_server() -> str:
        raise RuntimeError("boom")

    app.add_api_route("/api/v1/boom-server", named_server)
    paths = ["/health", "/no-such-thing", "/boom-server", "/hospitals/abc%00"]
    for path in paths:
        assert "server" not in (await client.get(path)).headers, path

    # uvicorn as `medivoy api` runs it: its own "Server: uvicorn" is off too.
    config = api_server_config(settings.model_copy(update={"api_port": free_port()}), app)
    assert config.server_header is False
    config.lifespan = "off"  # the app fixture has run its lifespan already
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.05)
        base = f"http://127.0.0.1:{config.port}/api/v1"
        async with httpx.AsyncClient(base_url=base) as real:
            for path in paths:
                response = await real.get(path)
                assert "server" not in response.headers, (path, response.headers)
                assert response.headers["x-request-id"], path
    finally:
        server.should_exit = True
        await serving


def _unbuilt_routers(app) -> list[str]:
    """The included routers whose request handling FastAPI has not built yet (it builds it
    lazily, per included router: `_IncludedRouter`, FastAPI's own and private type)."""
    from fastapi.routing import _IncludedRouter

    unbuilt: list[str] = []

    def walk(candidates) -> None:
        for candidate in candidates:
            if isinstance(candidate, _IncludedRouter):
                if candidate._effective_candidates_version is None:
                    unbuilt.append(repr(candidate.original_router.prefix))
                else:
                    walk(candidate._effective_candidates)

    walk(app.router.routes)
    return unbuilt


async def test_the_api_builds_every_route_at_start_when_asked(make_settings):
    import gc

    import httpx

    from api.app import create_app

    for warm in (False, True):
        app = create_app(make_settings(api_warm_start=warm))
        frozen = gc.get_freeze_count()
        try:
            async with app.router.lifespan_context(app):
                if warm:
                    assert _unbuilt_routers(app) == []
                    # what start made is out of the collector's full collections
                    assert gc.get_freeze_count() > frozen
                else:
                    assert len(_unbuilt_routers(app)) > 10  # what the warm start saves
                    assert gc.get_freeze_count() == frozen
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as c:
                    assert (await c.get("/health")).status_code == 200
        finally:
            gc.unfreeze()  # this test process goes on making and dropping apps
