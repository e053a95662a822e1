"""The floor: a plain SQL UPDATE endpoint on the stack's database, served by uvicorn the way
`medivoy api` serves the API (`python -m bench.plain DATABASE_URL PORT`). Its table lives in a
schema of its own (`bench`), so the product's tables and migrations never see it."""

from __future__ import annotations

import sys
import uuid

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from runtime.db import make_engine
from runtime.settings import Settings

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS bench;
CREATE TABLE IF NOT EXISTS bench.items (
    id uuid PRIMARY KEY, status varchar(50) NOT NULL, seq int NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
)
"""


def build(database_url: str) -> Starlette:
    engine = make_engine(database_url)

    async def move(request: Request) -> JSONResponse:
        body = await request.json()
        async with engine.begin() as conn:
            row = (
                await conn.execute(
                    text(
                        "UPDATE bench.items SET status = :status, seq = seq + 1, "
                        "updated_at = now() WHERE id = :id RETURNING id, status, seq"
                    ),
                    {"id": uuid.UUID(request.path_params["item_id"]), "status": body["status"]},
                )
            ).one_or_none()
        if row is None:
            return JSONResponse({"success": False}, status_code=404)
        return JSONResponse(
            {"success": True, "data": {"id": str(row.id), "status": row.status, "seq": row.seq}}
        )

    return Starlette(routes=[Route("/items/{item_id}/status", move, methods=["PATCH"])])


def main() -> None:
    import uvicorn

    from cli.main import api_server_config

    database_url, port = sys.argv[1], int(sys.argv[2])
    settings = Settings(_env_file=None, api_host="127.0.0.1", api_port=port, log_level="warning")
    uvicorn.Server(api_server_config(settings, build(database_url))).run()


if __name__ == "__main__":
    main()
