"""The `medivoy` command: the embedded dev stack, the API, the worker and the operator chores."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import suppress
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

from domain.passwords import configure_password_hashing
from runtime.settings import Settings, get_settings
from runtime.stack import (
    JWT_SECRET_FILE,
    PAYLOAD_KEYS_FILE,
    STACK_FILE,
    read_payload_keys,
    read_running,
)

if TYPE_CHECKING:
    import uvicorn
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

T = TypeVar("T")


class CliError(Exception):
    """A problem the person at the terminal can fix; printed without a traceback."""


def resolve_settings(
    *, need_temporal: bool, need_database: bool = True, need_stripe: bool = False
) -> Settings:
    """Settings from MEDIVOY_*, completed from the running dev stack where they are unset.

    What is filled in is exported to the environment too, so code that calls get_settings()
    (the API factory, the worker) sees the same values.
    """
    settings = Settings()
    configure_password_hashing(settings.password_hash_cost)
    if settings.is_production:
        # Production reads its settings only: no dev stack file, no generated dev secret.
        unset = [
            name
            for name, needed, value in (
                ("MEDIVOY_DATABASE_URL", need_database, settings.database_url),
                ("MEDIVOY_TEMPORAL_ADDRESS", need_temporal, settings.temporal_address),
            )
            if needed and not value
        ]
        if unset:
            raise CliError(
                f"{' and '.join(unset)} not set; with MEDIVOY_ENV={settings.env} nothing is "
                "taken from a `medivoy dev` stack"
            )
        return settings
    no_stripe = not settings.stripe_secret_key.get_secret_value()
    wants_stack = (
        (need_database and not settings.database_url)
        or (need_temporal and not settings.temporal_address)
        or (need_stripe and no_stripe)
    )
    stack = read_running(settings) if wants_stack else None
    exported: dict[str, str] = {}
    missing: list[str] = []
    if need_database and not settings.database_url:
        if stack and stack.database_url:
            exported["MEDIVOY_DATABASE_URL"] = stack.database_url
        else:
            missing.append("MEDIVOY_DATABASE_URL")
    if need_temporal and not settings.temporal_address:
        if stack and stack.temporal_address:
            exported["MEDIVOY_TEMPORAL_ADDRESS"] = stack.temporal_address
        else:
            missing.append("MEDIVOY_TEMPORAL_ADDRESS")
    if need_stripe and no_stripe:
        if stack and stack.stripe_api_base:
            from runtime import embedded_stripe

            exported["MEDIVOY_STRIPE_SECRET_KEY"] = embedded_stripe.SECRET_KEY
            exported["MEDIVOY_STRIPE_API_BASE"] = stack.stripe_api_base
        else:
            missing.append("MEDIVOY_STRIPE_SECRET_KEY")
    if missing:
        raise CliError(
            f"{' and '.join(missing)} not set, and no `medivoy dev` stack is running with its "
            f"data in {settings.data_dir.resolve()} (no live {STACK_FILE} there).\n"
            "Start one in another terminal with `medivoy dev` (or `make dev`), or set "
            + " / ".join(missing)
            + " (see .env.example)."
        )
    secret_file = settings.data_dir / JWT_SECRET_FILE
    if not settings.jwt_secret.get_secret_value() and secret_file.is_file():
        exported["MEDIVOY_JWT_SECRET"] = secret_file.read_text().strip()
    if not settings.payload_keys:
        # The key `medivoy dev` generated: the stack's histories are encrypted with it.
        exported.update(read_payload_keys(settings.data_dir / PAYLOAD_KEYS_FILE))
    if not exported:
        return settings
    os.environ.update(exported)
    get_settings.cache_clear()
    return Settings()


async def _with_sessionmaker(
    url: str, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]
) -> T:
    from runtime.db import make_engine, make_sessionmaker

    engine = make_engine(url, pool_size=2)
    try:
        return await work(make_sessionmaker(engine))
    finally:
        await engine.dispose()


async def _until_signalled(main: Coroutine[Any, Any, None]) -> None:
    """Run main until it ends; SIGINT/SIGTERM cancel it (it cleans up on cancellation).

    Every signal cancels again: a cancellation that lands while a library is starting up can
    be swallowed, and a second signal is the usual way to say "stop now".
    """
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(main)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with suppress(asyncio.CancelledError):
        await task


def _production_ready(settings: Settings) -> None:
    from runtime.production import UnsafeSettings, check_production

    try:
        check_production(settings)
    except UnsafeSettings as exc:
        raise CliError(
            f"refusing to start with MEDIVOY_ENV={settings.env}; fix these settings:\n{exc}"
        ) from None


def cmd_dev(args: argparse.Namespace) -> int:
    from cli.dev import run_dev

    return run_dev(Settings())


def api_server_config(settings: Settings, app: Any = "api.app:create_app") -> uvicorn.Config:
    """How `medivoy api` runs uvicorn: the app factory (or a built app, for tests), our log
    lines only, and no `Server` header naming the server software."""
    import uvicorn

    return uvicorn.Config(
        app,
        factory=isinstance(app, str),
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
        # Our JSON lines only: the app logs each request (path without its query string, which
        # may carry personal data); uvicorn's own records go through the same root handler.
        log_config=None,
        access_log=False,
        # uvicorn says "Server: uvicorn" by default: what runs here is nobody's business.
        server_header=False,
    )


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    settings = resolve_settings(need_temporal=True)
    _production_ready(settings)
    uvicorn.Server(api_server_config(settings)).run()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from runtime.logging import configure_logging

    settings = resolve_settings(need_temporal=True)
    _production_ready(settings)
    configure_logging(settings.log_level, settings.log_json)
    # worker.py sits next to the cli package (the repo root, or site-packages when
    # installed). Put that first: an editable install also leaves a stale copy in site-packages.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from worker import run_worker

    asyncio.run(_until_signalled(run_worker(settings)))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from runtime.migrate import downgrade, upgrade

    settings = resolve_settings(need_temporal=False)
    if args.downgrade:
        downgrade(settings.database_url, args.downgrade)
        print(f"Database downgraded to {args.downgrade}.")
    else:
        upgrade(settings.database_url, args.revision)
        print(f"Database upgraded to {args.revision}.")
    return 0


def cmd_create_admin(args: argparse.Namespace) -> int:
    from cli.admin import ensure_admin

    settings = resolve_settings(need_temporal=False)
    email = args.email or settings.admin_email
    if not email:
        raise CliError("give the admin's e-mail with --email or MEDIVOY_ADMIN_EMAIL")
    password = args.password or settings.admin_password.get_secret_value() or None
    try:
        generated, created = asyncio.run(
            _with_sessionmaker(settings.database_url, lambda sm: ensure_admin(sm, email, password))
        )
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    if not created:
        print(f"A user with the e-mail {email.lower()} already exists; nothing changed.")
    elif generated:
        print(f"Admin {email.lower()} created. Password (shown only this once): {generated}")
    else:
        print(f"Admin {email.lower()} created with the password given.")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from cli.seed import seed

    settings = resolve_settings(need_temporal=False)
    counts = asyncio.run(_with_sessionmaker(settings.database_url, seed))
    for name, count in counts.items():
        print(f"{name}: {count}")
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    """Exit 0 when the URL answers 2xx within the timeout (the containers' health check)."""
    import httpx

    settings = Settings()
    url = args.url or f"http://127.0.0.1:{settings.api_port}/api/v1/health"
    try:
        answer = httpx.get(url, timeout=args.timeout)
    except httpx.HTTPError as exc:
        raise CliError(f"{url}: {type(exc).__name__}") from None
    if not answer.is_success:
        raise CliError(f"{url} answered {answer.status_code}")
    return 0


async def _register_search_attributes(settings: Settings, wait: float) -> list[str]:
    """Add the search attributes that are missing; the names added ([] when all were there)."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import (
        AddSearchAttributesRequest,
        ListSearchAttributesRequest,
    )

    from runtime.temporal import connect
    from runtime.temporal_server import SEARCH_ATTRIBUTES

    deadline = asyncio.get_running_loop().time() + wait
    while True:
        try:
            client = await connect(settings)
            break
        except RuntimeError:
            # The frontend is not up yet (a compose job starts with the server).
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(2)
    namespace = settings.temporal_namespace
    known = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    missing = {
        name: IndexedValueType.Value("INDEXED_VALUE_TYPE_" + kind.upper())
        for name, kind in SEARCH_ATTRIBUTES.items()
        if name not in known.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)


def cmd_register_search_attributes(args: argparse.Namespace) -> int:
    settings = resolve_settings(need_temporal=True, need_database=False)
    try:
        added = asyncio.run(_register_search_attributes(settings, args.wait))
    except RuntimeError as exc:
        raise CliError(f"Temporal at {settings.temporal_address}: {exc}") from None
    namespace = settings.temporal_namespace
    if added:
        print(f"Search attributes added to namespace {namespace}: {', '.join(added)}")
    else:
        print(f"Every search attribute is already registered in namespace {namespace}.")
    return 0


async def _replay(settings: Settings, args: argparse.Namespace) -> tuple[list[Any], list[Path]]:
    from temporalio.service import RPCError

    from cli.replay import fetch, load_file, replay, save
    from runtime.temporal import connect, converter

    histories = []
    for path in args.file:
        try:
            histories.append(load_file(path))
        except ValueError as exc:
            raise CliError(str(exc)) from None
    if args.workflow_ids or args.query:
        try:
            client = await connect(settings)
        except RuntimeError as exc:
            raise CliError(f"Temporal at {settings.temporal_address}: {exc}") from None
        try:
            histories.extend(await fetch(client, args.workflow_ids, args.query, args.limit))
        except RPCError as exc:
            raise CliError(f"fetching the histories: {exc}") from None
    if not histories:
        raise CliError("nothing to replay: no workflow matched")
    data_converter = converter(settings)
    results = await replay(histories, data_converter)
    saved = await save(histories, args.save, data_converter, args.decrypt) if args.save else []
    return results, saved


def cmd_replay(args: argparse.Namespace) -> int:
    if not (args.workflow_ids or args.query or args.file):
        raise CliError("give workflow ids, --query or --file")
    remote = bool(args.workflow_ids or args.query)
    settings = resolve_settings(need_temporal=True, need_database=False) if remote else Settings()
    results, saved = asyncio.run(_replay(settings, args))
    for result in results:
        print(result.line)
    for path in saved:
        print(f"saved {path}")
    failed = [r for r in results if r.failure is not None]
    print(
        f"{len(results)} replayed, {len(failed)} not deterministic"
        + (f": {', '.join(r.workflow_id for r in failed)}" if failed else "")
    )
    return 1 if failed else 0


def _attachment_path(folder: Path, message_id: object, filename: str) -> Path:
    """DIR/<message id>/<file name>: two messages may carry files of the same name. Only the
    last part of the stored name is used, so no name can write outside DIR."""
    name = Path(filename.replace("\\", "/")).name.strip() or "attachment"
    if name in (".", ".."):
        name = "attachment"
    return folder / str(message_id) / name


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


async def _outbox(
    sessionmaker: async_sessionmaker[AsyncSession],
    limit: int,
    to: str | None,
    save_to: Path | None,
) -> list[tuple[Any, list[Path]]]:
    """The newest messages, each with the paths its attachments were saved to (if asked)."""
    from activities.providers.outbox import read_outbox, read_outbox_attachment

    messages = await read_outbox(sessionmaker, recipient=to, limit=limit, newest_first=True)
    listed: list[tuple[Any, list[Path]]] = []
    for message in messages:
        saved: list[Path] = []
        if save_to is not None:
            for attachment in message.attachments:
                path = _attachment_path(save_to, message.id, attachment.filename)
                content = await read_outbox_attachment(sessionmaker, attachment.id)
                await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
                await asyncio.to_thread(path.write_bytes, content)
                saved.append(path)
        listed.append((message, saved))
    return listed


def cmd_outbox(args: argparse.Namespace) -> int:
    settings = resolve_settings(need_temporal=False)
    save_to: Path | None = args.save_attachments
    messages = asyncio.run(
        _with_sessionmaker(
            settings.database_url, lambda sm: _outbox(sm, args.limit, args.to, save_to)
        )
    )
    if not messages:
        print(f"No messages to {args.to}." if args.to else "The outbox is empty.")
        return 0
    for message, saved in messages:
        stamp = message.created_at.strftime("%Y-%m-%d %H:%M:%S %Z")
        print(f"── {stamp} · {message.channel} → {message.recipient}")
        if message.subject:
            print(f"Subject: {message.subject}")
        for index, attachment in enumerate(message.attachments):
            where = f" → saved to {saved[index]}" if saved else ""
            print(
                f"Attachment: {attachment.filename} ({attachment.content_type}, "
                f"{_size(attachment.size)}){where}"
            )
        print()
        print(message.body_text.rstrip())
        print()
    return 0


def cmd_pay(args: argparse.Namespace) -> int:
    from cli.pay import pay

    settings = resolve_settings(need_temporal=False, need_stripe=True)
    return pay(settings, args.payment_id, card=args.card, decline=args.decline, wait=args.wait)


def cmd_chaos(args: argparse.Namespace) -> int:
    from cli.chaos import run_chaos

    return run_chaos(args)


async def _schedules(settings: Settings, args: argparse.Namespace) -> int:
    from temporalio.service import RPCError

    from cli import schedules
    from runtime.temporal import connect

    try:
        client = await connect(settings)
    except RuntimeError as exc:
        raise CliError(f"Temporal at {settings.temporal_address}: {exc}") from None
    action = args.schedules_verb or "list"
    try:
        if action == "list":
            for line in await schedules.list_schedules(client, settings):
                print(line.render())
        elif action == "trigger":
            await schedules.trigger(client, args.name)
            print(f"{schedules.schedule_id(args.name)}: triggered")
        elif action == "pause":
            await schedules.pause(client, args.name, args.note)
            print(f"{schedules.schedule_id(args.name)}: paused")
        elif action == "unpause":
            await schedules.unpause(client, args.name, args.note)
            print(f"{schedules.schedule_id(args.name)}: unpaused")
        elif action == "backfill":
            if args.name != "roll-up":
                raise CliError("only the analytics roll-up is backfilled (`backfill roll-up`)")
            if args.last < args.first:
                raise CliError("--to is before --from")
            summary = await schedules.backfill_roll_up(
                client, settings.task_queue, args.first, args.last
            )
            rows = sum(d.rows for d in summary.days)
            print(f"rolled up {len(summary.days)} days ({rows} rows) in {summary.timezone}")
    except RPCError as exc:
        raise CliError(f"{action}: {exc.message}") from None
    return 0


def cmd_schedules(args: argparse.Namespace) -> int:
    settings = resolve_settings(need_temporal=True, need_database=False)
    return asyncio.run(_schedules(settings, args))


async def _backup(settings: Settings, args: argparse.Namespace) -> int:
    from activities.backup import BackupError, read_index, restore_backup
    from activities.providers.wiring import build_storage

    storage = build_storage(settings)
    if args.backup_verb == "list":
        for key in await read_index(storage):
            print(key)
        return 0
    target = args.database_url or settings.database_url
    if not target:
        raise CliError("give --database-url (an empty database) or set MEDIVOY_DATABASE_URL")
    try:
        key = await restore_backup(settings, storage, args.key, target)
    except BackupError as exc:
        raise CliError(str(exc)) from None
    print(f"restored {key}")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    settings = resolve_settings(need_temporal=False, need_database=args.backup_verb == "restore")
    return asyncio.run(_backup(settings, args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medivoy",
        description="Medivoy backend. Settings come from MEDIVOY_* variables (see .env.example).",
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    dev = verbs.add_parser(
        "dev", help="run the whole stack locally: PostgreSQL, Temporal, worker and API"
    )
    dev.set_defaults(handler=cmd_dev)

    verbs.add_parser("api", help="run the HTTP API (uvicorn)").set_defaults(handler=cmd_api)
    verbs.add_parser("worker", help="run the Temporal worker").set_defaults(handler=cmd_worker)

    migrate = verbs.add_parser("migrate", help="apply the database migrations")
    migrate.add_argument("revision", nargs="?", default="head", help="target (default: head)")
    migrate.add_argument("--downgrade", metavar="REV", help="roll back to REV instead")
    migrate.set_defaults(handler=cmd_migrate)

    admin = verbs.add_parser("create-admin", help="create the admin user unless that e-mail exists")
    admin.add_argument("--email", help="default: MEDIVOY_ADMIN_EMAIL")
    admin.add_argument(
        "--password",
        help="default: MEDIVOY_ADMIN_PASSWORD, else one is generated and printed once",
    )
    admin.set_defaults(handler=cmd_create_admin)

    verbs.add_parser("seed", help="load the demo data").set_defaults(handler=cmd_seed)

    outbox = verbs.add_parser(
        "outbox", help="read the e-mail and SMS stored by the local outbox, newest first"
    )
    outbox.add_argument("--limit", type=int, default=20, metavar="N", help="default: 20")
    outbox.add_argument("--to", metavar="ADDRESS", help="only messages to this recipient")
    outbox.add_argument(
        "--save-attachments",
        type=Path,
        metavar="DIR",
        help="write the listed messages' attachments to DIR/<message id>/<file name>",
    )
    outbox.set_defaults(handler=cmd_outbox)

    pay = verbs.add_parser(
        "pay",
        help="pay a pending Stripe payment with a test card, as the browser checkout would",
        description=(
            "Confirms the payment's Stripe PaymentIntent with a test card against the configured "
            "Stripe (the embedded localstripe under `medivoy dev`), then waits until Medivoy has "
            "recorded the outcome from the webhook. Exit 0: paid; 1: declined (or not recorded "
            "within --wait); 2: the payment cannot be paid (unknown, not pending, not Stripe)."
        ),
    )
    pay.add_argument("payment_id", help="the payment's id (POST /payments answers it)")
    card = pay.add_mutually_exclusive_group()
    card.add_argument(
        "--card",
        default="4242424242424242",
        metavar="NUMBER",
        help="a Stripe test card number (default: 4242424242424242, which succeeds)",
    )
    card.add_argument("--decline", action="store_true", help="pay with a card the bank declines")
    pay.add_argument(
        "--wait",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for Medivoy to record the outcome (default: 60; 0: do not wait)",
    )
    pay.set_defaults(handler=cmd_pay)

    chaos = verbs.add_parser(
        "chaos",
        help="booking journeys with payment while the worker, Temporal and PostgreSQL are broken",
        description=(
            "Starts its own embedded stack (fresh data dir, free ports), runs booking journeys "
            "with payment over HTTP while it SIGKILLs the worker at random moments and restarts "
            "the Temporal dev server and PostgreSQL once each, then checks that nothing was lost "
            "or done twice. Exit 0: all held; 1: a loss, a duplicate, or too little breakage."
        ),
    )
    chaos.add_argument("--journeys", type=int, default=100, help="default: 100")
    chaos.add_argument("--clients", type=int, default=5, help="concurrent clients (default: 5)")
    chaos.add_argument("--patients", type=int, default=5, help="default: 5")
    chaos.add_argument(
        "--worker-kills", type=int, default=10, help="at least this many (default: 10)"
    )
    chaos.add_argument(
        "--kill-every",
        type=float,
        default=6.0,
        help="a breakage comes up to this many seconds after it is due, and half of it at "
        "least after the one before (default: 6)",
    )
    chaos.add_argument("--seed", type=int, default=None, help="for the random moments")
    chaos.add_argument(
        "--timeout", type=float, default=1800.0, help="for all journeys (default: 1800 s)"
    )
    chaos.add_argument(
        "--data-dir", type=Path, default=None, help="keep the run's data here (default: a temp dir)"
    )
    chaos.set_defaults(handler=cmd_chaos)

    probe = verbs.add_parser(
        "probe", help="exit 0 when a URL answers 2xx (default: this host's API health)"
    )
    probe.add_argument("--url", help="default: http://127.0.0.1:$MEDIVOY_API_PORT/api/v1/health")
    probe.add_argument("--timeout", type=float, default=3.0, metavar="SECONDS")
    probe.set_defaults(handler=cmd_probe)

    replay = verbs.add_parser(
        "replay",
        help="replay workflow histories against this code; exit 1 on any non-determinism",
        description="Replay histories from the server (by id or visibility query) or from "
        "JSON files against the current workflow code. Exit 0 when all replay, 1 when any "
        "is not deterministic (each named with the event that differs).",
    )
    replay.add_argument("workflow_ids", nargs="*", metavar="WORKFLOW_ID", help="latest run each")
    replay.add_argument(
        "--query", metavar="QUERY", help="visibility query, e.g. \"WorkflowType='BookingWorkflow'\""
    )
    replay.add_argument(
        "--limit", type=int, default=100, metavar="N", help="at most N from --query (default 100)"
    )
    replay.add_argument(
        "--file", type=Path, action="append", default=[], metavar="PATH", help="a history file"
    )
    replay.add_argument(
        "--save", type=Path, metavar="DIR", help="write each history to DIR (corpus format)"
    )
    replay.add_argument(
        "--decrypt",
        action="store_true",
        help="with --save: store payloads decrypted (test data only: tests/histories/ is "
        "committed and replayed without the keys)",
    )
    replay.set_defaults(handler=cmd_replay, skip_finalization=True)

    schedules = verbs.add_parser(
        "schedules",
        help="the Temporal Schedules: list (next run, last result), trigger, pause, backfill",
    )
    schedules.set_defaults(handler=cmd_schedules, skip_finalization=True, schedules_verb=None)
    schedule_verbs = schedules.add_subparsers(dest="schedules_verb", metavar="VERB")
    schedule_verbs.add_parser("list", help="every schedule, its next run and last result")
    for name, text in (
        ("trigger", "start a run now"),
        ("pause", "stop the runs"),
        ("unpause", "start the runs again"),
    ):
        verb = schedule_verbs.add_parser(name, help=text)
        verb.add_argument("name", help="roll-up, cleanup, payment-reminders, translation-sweep")
        if name != "trigger":
            verb.add_argument("--note", default=f"{name}d with medivoy schedules", help="why")
    backfill = schedule_verbs.add_parser("backfill", help="rebuild the roll-up of a range")
    backfill.add_argument("name", choices=["roll-up"], help="roll-up")
    backfill.add_argument("--from", dest="first", type=date.fromisoformat, required=True)
    backfill.add_argument("--to", dest="last", type=date.fromisoformat, required=True)

    backup = verbs.add_parser("backup", help="the database backups in the storage backend")
    backup.set_defaults(handler=cmd_backup)
    backup_verbs = backup.add_subparsers(dest="backup_verb", required=True, metavar="VERB")
    backup_verbs.add_parser("list", help="the backups kept, oldest first")
    restore = backup_verbs.add_parser("restore", help="load a backup into an empty database")
    restore.add_argument("--key", help="the backup (default: the newest)")
    restore.add_argument(
        "--database-url", help="the empty database (default: MEDIVOY_DATABASE_URL)"
    )

    temporal = verbs.add_parser("temporal", help="Temporal chores for a real cluster")
    temporal_verbs = temporal.add_subparsers(dest="temporal_verb", required=True, metavar="VERB")
    register = temporal_verbs.add_parser(
        "register-search-attributes",
        help="add temporal/search_attributes.json to the namespace (skips those already there)",
    )
    register.add_argument(
        "--wait",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="keep trying to reach Temporal this long (default: 120)",
    )
    register.set_defaults(handler=cmd_register_search_attributes, skip_finalization=True)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        code = args.handler(args)
    except CliError as exc:
        print(f"medivoy {args.verb}: {exc}", file=sys.stderr)
        code = 2
    except ValidationError as exc:
        # Each setting and what is wrong with it, never the value (it may be a secret).
        problems = "\n".join(
            f"  - {'.'.join(str(part) for part in error['loc']) or 'settings'}: {error['msg']}"
            for error in exc.errors()
        )
        print(f"medivoy {args.verb}: invalid settings:\n{problems}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:  # Ctrl-C before a verb installed its own handling
        code = 130
    if getattr(args, "skip_finalization", False):
        # The Temporal client's core threads can still call into Python while the interpreter
        # finalizes, which aborts the process (SIGABRT, exit 134, about 1 run in 5 here) after
        # the work is done: a verb that only used a client ends without finalization.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    main()
