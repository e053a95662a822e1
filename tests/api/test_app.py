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
