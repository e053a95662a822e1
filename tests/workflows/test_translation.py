"""TranslationWorkflow on the time-skipping server, with the LibreTranslate adapter against a
local peer: new content gets its machine translations, an edit re-translates only what changed
(approved clinical text goes stale and stays live), the monthly budget pauses and resumes,
rejection asks again, the sweep starts only what is missing, and no engine means waiting."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.providers.translators import LibreTranslate, RateLimit, Translator
from activities.translate import (
    Reviewer,
    ReviewInput,
    TranslationActivities,
    TranslationTarget,
    month_of,
    next_month,
    translation_activity_list,
)
from domain.access import Role
from domain.models.catalog import Hospital, Treatment
from domain.models.content import Translation, TranslationCharge, TranslationStatusHistory
from domain.translation import TranslationStatus as S
from domain.translation import source_hash
from runtime.settings import Settings
from tests.builders.catalog_builders import add_hospital, add_treatment
from tests.builders.helpers import eventually
from tests.builders.temporal_histories import ui_view
from tests.builders.users import create_user
from tests.fixtures.workers import new_worker
from workflows.messages import translation_workflow_id
from workflows.translation import (
    TranslationProgress,
    TranslationSweepWorkflow,
    TranslationWorkflow,
    review,
    source_changed,
)

if TYPE_CHECKING:
    from tests.fixtures.translation_fixtures import Peer

pytest_plugins = ["tests.fixtures.translation_fixtures"]
# Seconds of real time a run may take to end (its idle hour is skipped).
RESULT_DEADLINE = 60
LOCALES = ["ar", "hi", "es", "fr"]
TREATMENT = {
    "name": "Knee Replacement",
    "description": "A new knee joint.",
    "preparation": "Stop eating at midnight.",
    "aftercare": "Walk with a frame for two weeks.",
}


def _worker(
    env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    engine: Translator | None,
) -> Any:
    acts = TranslationActivities(sessionmaker, settings, engine)
    return new_worker(
        env,
        task_queue,
        TranslationWorkflow,
        TranslationSweepWorkflow,
        activities=translation_activity_list(acts),
    )


def _engine(peer: Peer) -> LibreTranslate:
    return LibreTranslate(peer.url, RateLimit(1000))


def _target(treatment: Any, locale: str) -> TranslationTarget:
    return TranslationTarget(entity_type="treatments", entity_id=treatment.id, locale=locale)


async def _finish(env: WorkflowEnvironment, target: TranslationTarget) -> TranslationProgress:
    """The result of the target's current run, time skipping through its idle hour.

    Only a handle that `start_workflow` returned unlocks the time-skipping server's clock in
    its `result()`; one from `get_workflow_handle` waits in real time (an hour here), so the
    clock is unlocked explicitly. A run that still does not end fails the test, never hangs."""
    wid = translation_workflow_id(target)
    run_id = (await env.client.get_workflow_handle(wid).describe()).run_id
    handle = env.client.get_workflow_handle(wid, run_id=run_id, result_type=TranslationProgress)
    async with env.time_skipping_unlocked():
        return await asyncio.wait_for(handle.result(), RESULT_DEADLINE)


async def _run(
    env: WorkflowEnvironment, task_queue: str, targets: Sequence[TranslationTarget]
) -> list[TranslationProgress]:
    for target in targets:
        await source_changed(env.client, task_queue, target)
    return [await _finish(env, target) for target in targets]


async def _rows(sessionmaker: Any, entity_id: uuid.UUID) -> dict[tuple[str, str], Translation]:
    async with sessionmaker() as db:
        rows = await db.scalars(select(Translation).where(Translation.entity_id == entity_id))
        return {(r.locale, r.field_name): r for r in rows}


async def _history(sessionmaker: Any, translation_id: uuid.UUID) -> list[str]:
    async with sessionmaker() as db:
        rows = await db.scalars(
            select(TranslationStatusHistory.to_status)
            .where(TranslationStatusHistory.translation_id == translation_id)
            .order_by(TranslationStatusHistory.seq)
        )
        return list(rows)


@pytest.fixture
async def admin(sessionmaker) -> Reviewer:
    """A real admin account: a review names its reviewer (reviewed_by and the history's
    changed_by reference users)."""
    user = await create_user(sessionmaker, Role.ADMIN)
    return Reviewer(user_id=user.id, role=Role.ADMIN.value)


async def test_a_new_treatment_gets_four_machine_translations_none_published(
    indexed_env, task_queue, sessionmaker, settings, libretranslate
) -> None:
    treatment = await add_treatment(sessionmaker, **TREATMENT)
    async with _worker(indexed_env, task_queue, sessionmaker, settings, _engine(libretranslate)):
        await _run(indexed_env, task_queue, [_target(treatment, loc) for loc in LOCALES])
    rows = await _rows(sessionmaker, treatment.id)
    assert len(rows) == 16
    assert {r.status for r in rows.values()} == {S.MACHINE_TRANSLATED.value}
    assert rows[("ar", "name")].translated_text == "استبدال الركبة"
    assert rows[("hi", "description")].translated_text == "घुटने का नया जोड़।"
    assert rows[("fr", "aftercare")].translated_text == "[fr] Walk with a frame for two weeks."
    assert all(r.is_auto_translated and r.published_text is None for r in rows.values())
    assert rows[("es", "name")].source_hash == source_hash("Knee Replacement")


async def test_an_edit_retranslates_only_that_field_and_approved_clinical_text_stays_live(
    indexed_env, task_queue, sessionmaker, settings, libretranslate, admin
) -> None:
    treatment = await add_treatment(sessionmaker, **TREATMENT)
    target = _target(treatment, "ar")
    async with _worker(indexed_env, task_queue, sessionmaker, settings, _engine(libretranslate)):
        await _run(indexed_env, task_queue, [target])
        approved = await review(
            indexed_env.client,
            task_queue,
            ReviewInput(target=target, field_name="description", reviewer=admin, status=S.APPROVED),
        )
        assert approved.published_text == "مفصل ركبة جديد."
        before = await _rows(sessionmaker, treatment.id)
        libretranslate.calls.clear()
        async with sessionmaker() as db, db.begin():
            await db.execute(
                update(Treatment)
                .where(Treatment.id == treatment.id)
                .values(description="A new knee joint, made of titanium.")
            )
        await source_changed(indexed_env.client, task_queue, target)
        await _finish(indexed_env, target)
    assert libretranslate.texts() == ["A new knee joint, made of titanium."]
    after = await _rows(sessionmaker, treatment.id)
    description = after[("ar", "description")]
    # The replacement waits for review; the approved text is what patients still read.
    assert description.translated_text == "[ar] A new knee joint, made of titanium."
    assert description.published_text == "مفصل ركبة جديد."
    assert await _history(sessionmaker, description.id) == [
        "pending",
        "machine_translated",
        "approved",
        "stale",
        "machine_translated",
    ]
    for name in ("name", "preparation", "aftercare"):
        assert after[("ar", name)].status_seq == before[("ar", name)].status_seq
        assert after[("ar", name)].translated_text == before[("ar", name)].translated_text


async def test_over_budget_the_workflow_waits_for_next_month_then_finishes(
    indexed_env, task_queue, sessionmaker, make_settings, libretranslate
) -> None:
    # Room for the name and description (16 + 17 characters), not for preparation (24) too;
    # next month preparation fits, aftercare (32) not: it waits one more month.
    settings = make_settings(translation_monthly_characters={"libretranslate": 40})
    treatment = await add_treatment(sessionmaker, **TREATMENT)
    target = _target(treatment, "es")
    async with _worker(indexed_env, task_queue, sessionmaker, settings, _engine(libretranslate)):
        started_at = await indexed_env.get_current_time()
        await source_changed(indexed_env.client, task_queue, target)
        handle = indexed_env.client.get_workflow_handle_for(
            TranslationWorkflow.run, translation_workflow_id(target)
        )

        async def paused() -> TranslationProgress | None:
            progress = await handle.query(TranslationWorkflow.progress)
            return progress if progress.paused_until is not None else None

        # The clock stands still outside result(): the run is seen waiting, not failed.
        waiting = await eventually(paused)
        assert waiting.paused_until == next_month(started_at)
        assert waiting.translated == 2
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        # The Temporal UI says what it is and what it waits for, until when.
        shown = await ui_view(indexed_env.client, translation_workflow_id(target))
        assert shown.static_summary == f"Translation of treatments {treatment.id} into es"
        assert "`2 translated, 0 refused`" in shown.current_details
        pause = f"waits for: the engine's monthly budget until {next_month(started_at):%Y-%m-%d}"
        assert pause in shown.current_details
        rows = await _rows(sessionmaker, treatment.id)
        assert {f: r.status for (_, f), r in rows.items()} == {
            "name": S.MACHINE_TRANSLATED.value,
            "description": S.MACHINE_TRANSLATED.value,
            "preparation": S.PENDING.value,
            "aftercare": S.PENDING.value,
        }
        assert libretranslate.texts() == ["Knee Replacement", "A new knee joint."]
        progress = await _finish(indexed_env, target)
        shown = await ui_view(indexed_env.client, translation_workflow_id(target))
    assert "`done, 4 translated, 0 refused`" in shown.current_details
    timers = shown.event_summaries["EVENT_TYPE_TIMER_STARTED"]
    assert timers.count("translation budget pause") == 2 and "idle close" in timers
    assert "machine translation" in shown.event_summaries["EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"]
    assert progress.translated == 4
    assert progress.paused_until is None
    month = month_of(started_at)
    async with sessionmaker() as db:
        charges = list(
            await db.scalars(select(TranslationCharge).order_by(TranslationCharge.month))
        )
    assert [c.month for c in charges] == [
        month,
        month,
        month_of(next_month(started_at)),
        month_of(next_month(next_month(started_at))),
    ]
    assert [c.characters for c in charges] == [16, 17, 24, 32]
    rows = await _rows(sessionmaker, treatment.id)
    assert {r.status for r in rows.values()} == {S.MACHINE_TRANSLATED.value}


async def test_an_engine_outage_is_retried_with_backoff_and_charged_once(
    indexed_env, task_queue, sessionmaker, settings, libretranslate
) -> None:
    treatment = await add_treatment(sessionmaker, **TREATMENT)
    target = _target(treatment, "ar")
    # Throttled, then down: the engine answers again on the third try.
    libretranslate.failures.extend([429, 503])
    async with _worker(indexed_env, task_queue, sessionmaker, settings, _engine(libretranslate)):
        progress = await _run(indexed_env, task_queue, [target])
    assert progress[0].translated == 4
    # Two refused attempts, then the four fields.
    assert len(libretranslate.arrivals) == 6
    assert libretranslate.texts() == list(TREATMENT.values())
    rows = await _rows(sessionmaker, treatment.id)
    assert {r.status for r in rows.values()} == {S.MACHINE_TRANSLATED.value}
    async with sessionmaker() as db:
        charged = list(await db.scalars(select(TranslationCharge.characters)))
    assert sorted(charged) == sorted(len(text) for text in TREATMENT.values())


async def test_a_rejected_translation_is_translated_again(
    indexed_env, task_queue, sessionmaker, settings, libretranslate, admin
) -> None:
    treatment = await add_treatment(sessionmaker, name="Knee Replacement")
    target = _target(treatment, "fr")
    async with _worker(indexed_env, task_queue, sessionmaker, settings, _engine(libretranslate)):
        await _run(indexed_env, task_queue, [target])
        rejected = await review(
            indexed_env.client,
            task_queue,
            ReviewInput(
                target=target,
                field_name="name",
                reviewer=admin,
                status=S.REJECTED,
                reason="Use the surgical term",
            ),
        )
        assert rejected.status == S.REJECTED
        await _finish(indexed_env, target)
    assert libretranslate.texts("fr") == ["Knee Replacement", "Knee Replacement"]
    row = (await _rows(sessionmaker, treatment.id))[("fr", "name")]
    assert row.status == S.MACHINE_TRANSLATED.value
    assert await _history(sessionmaker, row.id) == [
        "pending",
        "machine_translated",
        "rejected",
        "machine_translated",
    ]


async def test_without_an_engine_translations_wait_for_a_person(
    indexed_env, task_queue, sessionmaker, settings
) -> None:
    treatment = await add_treatment(sessionmaker, name="Knee Replacement")
    async with _worker(indexed_env, task_queue, sessionmaker, settings, None):
        await _run(indexed_env, task_queue, [_target(treatment, "ar")])
    [row] = (await _rows(sessionmaker, treatment.id)).values()
    assert row.status == S.PENDING.value
    assert row.translated_text is None


async def test_the_sweep_starts_only_what_has_no_current_translation(
    indexed_env, task_queue, sessionmaker, settings, libretranslate
) -> None:
    done = await add_hospital(sessionmaker, name="Done Hospital")
    fresh = await add_hospital(sessionmaker, name="Fresh Hospital")
    async with sessionmaker() as db, db.begin():
        for hospital in (done, fresh):
            await db.execute(
                update(Hospital).where(Hospital.id == hospital.id).values(description=None)
            )
        for locale in LOCALES:
            db.add(
                Translation(
                    entity_type="hospitals",
                    entity_id=done.id,
                    field_name="name",
                    locale=locale,
                    translated_text=f"{locale} name",
                    published_text=f"{locale} name",
                    status=S.APPROVED.value,
                    status_seq=1,
                    source_hash=source_hash("Done Hospital"),
                )
            )
    async with _worker(indexed_env, task_queue, sessionmaker, settings, _engine(libretranslate)):
        summary = await indexed_env.client.execute_workflow(
            TranslationSweepWorkflow.run, id=f"sweep-{uuid.uuid4()}", task_queue=task_queue
        )
        fresh_targets = [
            TranslationTarget(entity_type="hospitals", entity_id=fresh.id, locale=loc)
            for loc in LOCALES
        ]
        for target in fresh_targets:
            await _finish(indexed_env, target)
    assert (summary.started, summary.signalled) == (4, 0)
    for locale in LOCALES:
        done_id = translation_workflow_id(
            TranslationTarget(entity_type="hospitals", entity_id=done.id, locale=locale)
        )
        with pytest.raises(RPCError):
            await indexed_env.client.get_workflow_handle(done_id).describe()
    rows = await _rows(sessionmaker, fresh.id)
    assert rows[("ar", "name")].translated_text == "[ar] Fresh Hospital"
