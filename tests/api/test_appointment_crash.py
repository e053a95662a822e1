"""A worker SIGKILLed mid-consultation-journey: the second worker process finishes it from the
history, and nothing is written or sent twice (history, the video room, e-mails)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import uuid

import httpx
from sqlalchemy import func, select

from domain.models.appointments import Appointment, AppointmentStatusHistory
from domain.models.notifications import Notification, OutboxMessage
from tests.builders.appointment_builders import booked, clinic, later
from tests.builders.helpers import eventually
from tests.builders.worker_process import polling, start_worker, stop


async def test_a_worker_killed_mid_consultation_journey_leaves_nothing_twice(
    app, settings, sessionmaker, temporal_client, temporal_dev_server, tmp_path
):
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    first = start_worker(settings, temporal_dev_server.address, tmp_path)
    second: subprocess.Popen[bytes] | None = None
    try:
        await polling(temporal_client, settings.task_queue, first)
        async with httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as client:
            c = await clinic(sessionmaker, client)
            made = await booked(client, c["patient"], c.doctor_id, later(days=3))
            appointment_id = uuid.UUID(made["id"])

            confirming = asyncio.ensure_future(
                client.patch(
                    f"/appointments/{made['id']}/status",
                    headers=c["doctor"],
                    json={"status": "appointment_confirmed"},
                )
            )
            await asyncio.sleep(0.05)
            first.send_signal(signal.SIGKILL)
            first.wait()
            second = start_worker(settings, temporal_dev_server.address, tmp_path)
            await polling(temporal_client, settings.task_queue, second)
            answered = await asyncio.wait_for(confirming, 60)
            # A 503 says the move may still be applied; the second worker applies it.
            assert answered.status_code in (200, 503), answered.text

            async def confirmed() -> Appointment | None:
                """Confirmed, and its video room made (just after the move)."""
                async with sessionmaker() as db:
                    row = await db.get(Appointment, appointment_id)
                ready = row is not None and row.status == "appointment_confirmed"
                return row if ready and row.video_room_id else None

            room = (await eventually(confirmed, within=60)).video_room_id
            moved = await client.post(
                f"/appointments/{made['id']}/reschedule",
                headers=c["patient"],
                json={"new_scheduled_date": later(days=4).isoformat()},
            )
            assert moved.status_code == 200, moved.text
            async with sessionmaker() as db:
                kept = await db.get(Appointment, appointment_id)
            assert kept is not None and kept.video_room_id == room  # one room, kept
            cancelled = await client.request(
                "DELETE",
                f"/appointments/{made['id']}",
                headers=c["patient"],
                json={"reason": "Feeling better"},
            )
            assert cancelled.status_code == 200, cancelled.text

        async with sessionmaker() as db:
            history = list(
                await db.scalars(
                    select(AppointmentStatusHistory)
                    .where(AppointmentStatusHistory.appointment_id == appointment_id)
                    .order_by(AppointmentStatusHistory.seq)
                )
            )
            row = await db.get(Appointment, appointment_id)
            notifications = (
                await db.execute(
                    select(Notification.dedupe_key, Notification.channel, func.count())
                    .where(Notification.dedupe_key.like(f"appointment:{appointment_id}:%"))
                    .group_by(Notification.dedupe_key, Notification.channel)
                )
            ).all()
            mails = (
                await db.execute(
                    select(OutboxMessage.dedupe_key, func.count())
                    .where(OutboxMessage.dedupe_key.like(f"appointment:{appointment_id}:%"))
                    .group_by(OutboxMessage.dedupe_key)
                )
            ).all()
        assert [h.seq for h in history] == list(range(1, len(history) + 1))
        assert [h.to_status for h in history] == ["requested", "appointment_confirmed", "cancelled"]
        assert row is not None and row.reschedule_count == 1
        assert row.video_room_id is None  # revoked with the cancellation
        assert notifications and all(count == 1 for *_, count in notifications)
        assert mails and all(count == 1 for _, count in mails)
    finally:
        stop(first, second)
