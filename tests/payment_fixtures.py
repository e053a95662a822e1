"""Payment fixtures: localstripe (a stateful fake of Stripe's API) running in this process on
127.0.0.1 and a free port, recording the requests it receives.
Use with `pytest_plugins = ["tests.payment_fixtures"]`."""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

STRIPE_TEST_KEY = "sk_test_medivoy_localstripe"


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class LocalStripe:
    url: str
    # localstripe accepts any key shaped like a secret key.
    api_key: str = STRIPE_TEST_KEY
    requests: list[RecordedRequest] = field(default_factory=list)

    def posted(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == path]


def _start(server: LocalStripe, loop: asyncio.AbstractEventLoop) -> web.AppRunner:
    # Imported here: the module builds its aiohttp app (and its global store) on import, and
    # registers plain functions as handlers, which aiohttp warns about.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from localstripe import resources
        from localstripe.server import app

    # The store pickles itself to /tmp/localstripe.pickle on every write; keep it in memory.
    resources.store.dump_to_disk = lambda: None

    @web.middleware
    async def record(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        body = await request.text() if request.can_read_body else ""
        server.requests.append(
            RecordedRequest(request.method, request.path, dict(request.headers), body)
        )
        return await handler(request)

    app.middlewares.insert(0, record)
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    host, port = runner.addresses[0][:2]
    server.url = f"http://{host}:{port}"
    return runner


@pytest.fixture(scope="session")
def localstripe() -> Iterator[LocalStripe]:
    """localstripe on its own event loop in a thread, so blocking SDK calls from any test (or
    from asyncio.to_thread) reach it whatever the test's loop is doing."""
    server = LocalStripe(url="")
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []
    holder: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            holder["runner"] = _start(server, loop)
        except BaseException as exc:
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="localstripe", daemon=True)
    thread.start()
    started.wait(10)
    if failure:
        raise failure[0]
    yield server
    runner: web.AppRunner = holder["runner"]

    async def shutdown() -> None:
        # localstripe schedules webhook deliveries (none registered here) as background tasks.
        current = asyncio.current_task()
        for task in asyncio.all_tasks():
            if task is not current:
                task.cancel()
        await runner.cleanup()

    asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()
