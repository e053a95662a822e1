"""The embedded Stripe of `medivoy dev`: localstripe on loopback, its state in the data dir.

localstripe by itself listens on every interface and pickles its whole store to one fixed
/tmp file that every copy on the machine shares (and reloads on start). Here it listens on
127.0.0.1 only, keeps its state in a file we name (written atomically, so a kill never leaves
half a store), and posts its events to the API's Stripe webhook, signed with the webhook secret,
retrying a delivery that fails for a while as Stripe does. Run as
`python -m runtime.embedded_stripe --port N --state FILE --webhook-url URL` with the secret in
MEDIVOY_STRIPE_WEBHOOK_SECRET (not on the command line, where `ps` shows it).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import logging
import os
import pickle
import sys
import warnings
from pathlib import Path
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, web

HOST = "127.0.0.1"
# localstripe takes any key shaped like a secret key; these name the embedded one.
SECRET_KEY = "sk_test_medivoy_embedded"
PUBLISHABLE_KEY = "pk_test_medivoy_embedded"
WEBHOOK_ID = "medivoy"
# The events the API's webhook acts on (activities/providers/webhooks.py).
WEBHOOK_EVENTS = [
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "payment_intent.processing",
    "charge.refunded",
    "charge.refund.updated",
    "refund.created",
    "refund.updated",
]
# A failed delivery is tried again after 1, 2, 4, ... seconds (at most 30), ATTEMPTS in all.
DELIVERY_ATTEMPTS = 10
DELIVERY_BACKOFF_MAX = 30.0

log = logging.getLogger("medivoy.embedded_stripe")


def _load(module: Any, state: Path) -> None:
    """Point localstripe's store at our state file and load what it held."""
    store = module.store

    def dump_to_disk() -> None:
        tmp = state.with_name(state.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            pickle.dump(dict(store), out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, state)

    def try_load_from_disk() -> None:
        try:
            with open(state, "rb") as f:
                old = pickle.load(f)  # our own file, in our own data dir
        except FileNotFoundError:
            return
        dict.clear(store)
        dict.update(store, old)

    store.dump_to_disk = dump_to_disk
    store.try_load_from_disk = try_load_from_disk
    try_load_from_disk()


def add_list_filters(module: Any) -> None:
    """Stripe's `customer` and `created` filters on listing PaymentIntents, newest first, which
    localstripe lacks (it refuses any filter there): charge_saved looks up by them whether a
    charge's key already made an intent (activities/providers/stripe_payments.py)."""
    intent_cls = module.PaymentIntent
    if getattr(intent_cls, "_medivoy_list_filters", False):
        return
    bounds = {
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }

    def list_all(
        cls: Any,
        url: str,
        /,
        customer: str | None = None,
        created: Any = None,
        limit: Any = None,
        starting_after: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if kwargs:
            raise module.UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
        if created is not None and not isinstance(created, dict):
            created = {"eq": created}
        try:
            wanted = [
                (op, int(value)) for op, value in (created or {}).items() if op in (*bounds, "eq")
            ]
        except (TypeError, ValueError):
            raise module.UserError(400, "Bad request") from None
        if created and len(wanted) != len(created):
            raise module.UserError(400, "Bad request")
        found = module.List(url, limit=limit, starting_after=starting_after)
        items = [
            value
            for key, value in module.store.items()
            if key.startswith(cls.object + ":")
            and (customer is None or value.customer == customer)
            and all(
                value.created == at if op == "eq" else bounds[op](value.created, at)
                for op, at in wanted
            )
        ]
        # Newest first as Stripe lists (store order breaks ties: later made, earlier listed).
        items.reverse()
        items.sort(key=lambda obj: obj.created, reverse=True)
        found._list = items
        return found

    intent_cls._api_list_all = classmethod(list_all)
    intent_cls._medivoy_list_filters = True


async def _deliver(url: str, secret: str, event: Any) -> None:
    """One event to the webhook, signed as Stripe signs, retried with backoff until a 2xx."""
    payload = json.dumps(event._export(), indent=2, sort_keys=True).encode()
    signature = hmac.new(
        secret.encode(), b"%d.%s" % (event.created, payload), hashlib.sha256
    ).hexdigest()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": f"t={event.created},v1={signature}",
    }
    delay = 1.0
    await asyncio.sleep(delay)  # as localstripe: after the request that caused it has answered
    for attempt in range(1, DELIVERY_ATTEMPTS + 1):
        try:
            async with (
                ClientSession(timeout=ClientTimeout(total=30)) as session,
                session.post(url, data=payload, headers=headers) as answer,
            ):
                if 200 <= answer.status < 300:
                    log.info("webhook %s %s delivered", event.type, event.id)
                    return
                problem = f"HTTP {answer.status}"
        except (ClientError, TimeoutError) as exc:
            problem = type(exc).__name__
        log.info("webhook %s %s failed (%s), attempt %d", event.type, event.id, problem, attempt)
        if attempt < DELIVERY_ATTEMPTS:
            await asyncio.sleep(delay)
            delay = min(delay * 2, DELIVERY_BACKOFF_MAX)
    log.warning("webhook %s %s given up after %d attempts", event.type, event.id, attempt)


def build_app(state: Path, webhook_url: str, webhook_secret: str) -> web.Application:
    with warnings.catch_warnings():
        # localstripe registers plain functions as handlers, which aiohttp warns about.
        warnings.simplefilter("ignore", DeprecationWarning)
        from localstripe import resources, webhooks
        from localstripe.server import app as localstripe_app

    _load(resources, state)
    add_list_filters(resources)
    pending: set[asyncio.Task[None]] = set()

    def schedule(event: Any) -> None:
        if event.type not in WEBHOOK_EVENTS:
            return
        task = asyncio.ensure_future(_deliver(webhook_url, webhook_secret, event))
        pending.add(task)
        task.add_done_callback(pending.discard)

    # resources imported schedule_webhook by name: replace it where it is called.
    resources.schedule_webhook = schedule
    webhooks.schedule_webhook = schedule
    app: web.Application = localstripe_app
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime.embedded_stripe")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, required=True, help="the file that keeps its data")
    parser.add_argument("--webhook-url", required=True)
    args = parser.parse_args(argv)
    secret = os.environ.get("MEDIVOY_STRIPE_WEBHOOK_SECRET", "")
    if not secret:
        print("MEDIVOY_STRIPE_WEBHOOK_SECRET is not set", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    app = build_app(args.state, args.webhook_url, secret)
    log.info("embedded Stripe on http://%s:%d, state in %s", HOST, args.port, args.state)
    web.run_app(app, host=HOST, port=args.port, access_log=None, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
