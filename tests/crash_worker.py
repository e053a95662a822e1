"""A real worker process that SIGKILLs itself at one chosen step, for the crash tests.

    MEDIVOY_TEST_CRASH_AT=record_payment_transition:2:before python -m tests.crash_worker

runs the ordinary worker (the same workflows and activities as `medivoy worker`, built from
the same MEDIVOY_* settings) except that the named activity kills the whole process, with no
chance to clean up, when it is called: `before` it does its work or `after` it (the work is
done, but Temporal never hears of it). An optional middle part is the history seq of a payment
transition, to pick one write among several. The process dies the first time the point is
reached; the test then starts another worker, which must finish the job exactly once.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import activity
from temporalio.worker import Worker

from runtime.db import make_engine, make_sessionmaker
from runtime.settings import get_settings
from runtime.temporal import connect


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def crash_point(spec: str) -> tuple[str, int | None, str]:
    parts = spec.split(":")
    name, when = parts[0], parts[-1]
    seq = int(parts[1]) if len(parts) == 3 else None
    if when not in ("before", "after"):
        raise ValueError(f"crash point {spec!r}: end with :before or :after")
    return name, seq, when


def crashing(
    fn: Callable[..., Awaitable[Any]], seq: int | None, when: str
) -> Callable[..., Awaitable[Any]]:
    name = activity._Definition.must_from_callable(fn).name

    async def wrapper(arg: Any) -> Any:
        chosen = seq is None or getattr(arg, "seq", None) == seq
        if chosen and when == "before":
            _die()
        result = await fn(arg)
        if chosen and when == "after":
            _die()
        return result

    # The signature (and so the argument's type) is the wrapped activity's; its definition
    # attribute is not copied, so the wrapper can be defined under the same name.
    functools.update_wrapper(wrapper, fn, updated=())
    return activity.defn(name=name)(wrapper)


async def main() -> None:
    from worker import all_activities
    from workflows import ALL_WORKFLOWS

    name, seq, when = crash_point(os.environ["MEDIVOY_TEST_CRASH_AT"])
    settings = get_settings()
    engine = make_engine(settings.database_url)
    client = await connect(settings)
    activities = []
    for fn in all_activities(settings, make_sessionmaker(engine)):
        defn = activity._Definition.must_from_callable(fn)
        activities.append(crashing(fn, seq, when) if defn.name == name else fn)
    from concurrent.futures import ThreadPoolExecutor

    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=ALL_WORKFLOWS,
        activities=activities,
        activity_executor=ThreadPoolExecutor(max_workers=4),
    )
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
