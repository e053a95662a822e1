"""A booking's notifications as one deliver_notifications activity per step (patch
booking-notify-inline): exactly one message per recipient per step and channel, also when the
activity is retried (a provider down, a provider whose answer is lost), and no child workflow.
Time-skipping server, the real activities, the real database, the outbox behind the e-mail."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.bookings import BookingActivities, booking_activity_list
from activities.notify import (
    BatchedNotification,
    NotificationActivities,
    NotificationBatch,
    notification_activity_list,
)
from activities.providers.channels import EmailChannel
from activities.providers.outbox import OutboxEmail, OutboxMessages, read_outbox
from domain.booking import BookingStatus
from domain.models.notifications import Channel, Notification
from tests.fixtures.workers import new_worker
from tests.workflows.test_booking import Cast, cast, move, open_for
from tests.workflows.test_notification import FlakyEmail, ReplyLostEmail
from workflows.booking import NOTIFY_INLINE_PATCH, BookingWorkflow
from workflows.notification import WORKFLOWS as NOTIFICATION_WORKFLOWS

__all__ = ["cast"]  # the fixture of test_booking

S = BookingStatus


def activities_with(
    sessionmaker: async_sessionmaker[AsyncSession], email: EmailChannel
) -> NotificationActivities:
    return NotificationActivities(
        sessionmaker,
        email,
        OutboxMessages(sessionmaker, Channel.SMS),
        OutboxMessages(sessionmaker, Channel.WHATSAPP),
    )


async def rows_for(
    sessionmaker: async_sessionmaker[AsyncSession], booking_id: uuid.UUID
) -> list[Notification]:
    async with sessionmaker() as db:
        return list(
            await db.scalars(
                select(Notification).where(
                    Notification.dedupe_key.startswith(f"booking:{booking_id}:")
                )
            )
        )


async def events_of(handle: WorkflowHandle[Any, Any]) -> list[Any]:
    return list((await handle.fetch_history()).events)


def notify_attempts(events: list[Any]) -> list[int]:
    """The attempt of each deliver_notifications run, in the order they were scheduled (a
    started event is written when its attempt ends, so a retried one comes later)."""
    scheduled = {
        e.event_id
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "deliver_notifications"
    }
    started = {
        e.activity_task_started_event_attributes.scheduled_event_id: (
            e.activity_task_started_event_attributes.attempt
        )
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and e.activity_task_started_event_attributes.scheduled_event_id in scheduled
    }
    return [started[event_id] for event_id in sorted(started)]


async def settled(
    sessionmaker: async_sessionmaker[AsyncSession], booking_id: uuid.UUID, sent: int
) -> list[Notification]:
    """The booking's notification rows once `sent` of them are sent."""
    from tests.builders.helpers import eventually

    async def probe() -> list[Notification] | None:
        rows = await rows_for(sessionmaker, booking_id)
        return rows if sum(r.is_sent for r in rows) >= sent else None

    return await eventually(probe)


async def journey_with(
    env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    cast: Cast,
    email: EmailChannel,
) -> tuple[uuid.UUID, list[Notification], list[Any]]:
    """Create (the coordinator and the hospital admin are told) and one move by the coordinator
    (the patient and the hospital admin are told): 4 messages on 2 channels each."""
    async with new_worker(
        env,
        task_queue,
        BookingWorkflow,
        *NOTIFICATION_WORKFLOWS,
        activities=[
            *booking_activity_list(BookingActivities(sessionmaker)),
            *notification_activity_list(activities_with(sessionmaker, email)),
        ],
    ):
        view, handle = await open_for(env, task_queue, cast)
        await move(handle, cast, "coordinator", S.UNDER_REVIEW)
        await settled(sessionmaker, view.booking_id, 8)
        # A last move ends the run (cancelled); the run closes once its messages are out.
        await move(handle, cast, "coordinator", S.CANCELLED)
        await handle.result()
        events = await events_of(handle)
    return view.booking_id, await rows_for(sessionmaker, view.booking_id), events


def expected_keys(booking_id: uuid.UUID, cast: Cast) -> set[str]:
    """Step 1 (create by the patient) and step 2 (under review) and 3 (cancelled, both by the
    coordinator): everyone involved but whoever moved."""
    patient, coordinator, admin = cast.patient.id, cast.coordinator.id, cast.hospital_admin.id
    return {
        f"booking:{booking_id}:1:{patient}",
        f"booking:{booking_id}:1:{coordinator}",
        f"booking:{booking_id}:1:{admin}",
        f"booking:{booking_id}:2:{patient}",
        f"booking:{booking_id}:2:{admin}",
        f"booking:{booking_id}:3:{patient}",
        f"booking:{booking_id}:3:{admin}",
    }


def once_per_key_and_channel(rows: list[Notification]) -> dict[tuple[str, str], Notification]:
    by_key = {(r.dedupe_key, r.channel): r for r in rows}
    assert len(by_key) == len(rows), "a message recorded twice"
    return by_key


async def test_each_recipient_gets_one_message_per_step_and_no_child_runs(
    indexed_env: WorkflowEnvironment, task_queue: str, sessionmaker, cast: Cast
) -> None:
    booking_id, rows, events = await journey_with(
        indexed_env, task_queue, sessionmaker, cast, OutboxEmail(sessionmaker)
    )

    keys = expected_keys(booking_id, cast)
    by_key = once_per_key_and_channel(rows)
    assert set(by_key) == {(k, c) for k in keys for c in ("in_app", "email")}
    assert all(r.is_sent and r.attempts == 1 for r in rows)
    for key in keys:
        [mail] = await read_outbox(sessionmaker, dedupe_key=key, channel=Channel.EMAIL)
        assert mail.dedupe_key == key
    types = {e.event_type for e in events}
    assert EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED not in types
    # One activity per step (create, under review, cancelled), each on its first attempt.
    assert notify_attempts(events) == [1, 1, 1]
    markers = [e for e in events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    assert any(NOTIFY_INLINE_PATCH.encode() in m.SerializeToString() for m in markers)


async def test_a_provider_down_retries_the_batch_and_sends_nothing_twice(
    indexed_env: WorkflowEnvironment, task_queue: str, sessionmaker, cast: Cast
) -> None:
    # The first e-mail of the run fails: its batch is retried once the others went out.
    flaky = FlakyEmail(OutboxEmail(sessionmaker), failures=1)
    booking_id, rows, events = await journey_with(
        indexed_env, task_queue, sessionmaker, cast, flaky
    )

    keys = expected_keys(booking_id, cast)
    by_key = once_per_key_and_channel(rows)
    assert set(by_key) == {(k, c) for k in keys for c in ("in_app", "email")}
    assert all(r.is_sent for r in rows)
    # 7 e-mails plus the one failure; the retry skipped what the first attempt had sent.
    assert flaky.calls == len(keys) + 1
    failed = [r for r in rows if r.channel == "email" and r.attempts == 2]
    assert len(failed) == 1 and failed[0].last_error is not None
    assert "503" in failed[0].last_error
    assert all(r.attempts == 1 for r in rows if r.channel == "in_app")
    for key in keys:
        assert len(await read_outbox(sessionmaker, dedupe_key=key, channel=Channel.EMAIL)) == 1
    assert notify_attempts(events)[0] == 2  # the create's batch, retried once


async def test_a_lost_provider_answer_retries_and_the_outbox_keeps_one_message(
    indexed_env: WorkflowEnvironment, task_queue: str, sessionmaker, cast: Cast
) -> None:
    # The first e-mail is accepted by the provider but its answer never comes back.
    lost = ReplyLostEmail(OutboxEmail(sessionmaker))
    booking_id, rows, events = await journey_with(indexed_env, task_queue, sessionmaker, cast, lost)

    keys = expected_keys(booking_id, cast)
    once_per_key_and_channel(rows)
    assert all(r.is_sent for r in rows)
    for key in keys:
        assert len(await read_outbox(sessionmaker, dedupe_key=key, channel=Channel.EMAIL)) == 1
    assert notify_attempts(events)[0] == 2


async def test_the_same_batch_delivered_twice_sends_once(
    sessionmaker: async_sessionmaker[AsyncSession], cast: Cast
) -> None:
    activities = activities_with(sessionmaker, OutboxEmail(sessionmaker))
    key = f"booking:{uuid.uuid4()}:1"
    batch = NotificationBatch(
        [
            BatchedNotification(
                dedupe_key=f"{key}:{user.id}",
                user_id=user.id,
                template="booking_status_changed",
                channels=[Channel.EMAIL, Channel.IN_APP],
                context={"booking_number": "MV-BK-TEST", "status": "requested"},
                type="booking",
                reference_type="booking",
            )
            for user in (cast.patient, cast.hospital_admin)
        ]
        + [
            # Nobody by that id: failed for good, the others still go out.
            BatchedNotification(
                dedupe_key=f"{key}:nobody",
                user_id=uuid.uuid4(),
                template="booking_status_changed",
                channels=[Channel.EMAIL, Channel.IN_APP],
            )
        ]
    )
    env = ActivityEnvironment()
    first = await env.run(activities.deliver_notifications, batch)
    again = await env.run(activities.deliver_notifications, batch)

    assert first == again
    assert [sorted(o.sent) for o in first[:2]] == [[Channel.EMAIL, Channel.IN_APP]] * 2
    assert sorted(first[2].failed) == [Channel.EMAIL, Channel.IN_APP] and not first[2].sent
    for user in (cast.patient, cast.hospital_admin):
        mails = await read_outbox(sessionmaker, dedupe_key=f"{key}:{user.id}")
        assert len(mails) == 1 and mails[0].recipient == user.email
    async with sessionmaker() as db:
        query = select(Notification).where(Notification.dedupe_key.startswith(key))
        rows = list(await db.scalars(query))
    assert len(rows) == 4 and all(r.is_sent and r.attempts == 1 for r in rows)
    in_app = [r for r in rows if r.channel == "in_app"]
    assert {r.user_id for r in in_app} == {cast.patient.id, cast.hospital_admin.id}
    # The Arabic-speaking patient reads it in Arabic (the user's own locale).
    assert all(r.title for r in in_app)
