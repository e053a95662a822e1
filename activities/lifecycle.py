"""The one status writer every lifecycle's activity calls, and the refusal bridge to Temporal.

`write_transition` moves a row and appends its history row in the caller's transaction: the row
lock serializes writers, `status_seq` says how far the row already is (so a retried attempt, or
a replayed workflow, with a seq already written changes nothing), a seq further on than the next
one is a HISTORY_GAP that no retry heals, and the history insert is ON CONFLICT DO NOTHING on
its unique (entity, seq).

`refusal` turns a domain refusal into the non-retryable ApplicationError that crosses Temporal:
its type is the DomainError class name and its first detail carries the stable code, which is
how api/errors.update_failed renders it; `unwrap` reads one back out of an activity's or a
child's failure. One spelling, for activities and workflows alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

from domain import errors
from domain.errors import DomainError
from domain.lifecycle import Actor, MoveRefused
from runtime.metrics import count_move

HISTORY_GAP = "HISTORY_GAP"

# The ApplicationError types that carry a refusal: the DomainError classes the API maps (not
# RateLimited, which needs its retry_after and never crosses a workflow).
REFUSAL_KINDS: dict[str, type[DomainError]] = {
    cls.__name__: cls
    for cls in (
        errors.Invalid,
        errors.Unprocessable,
        errors.Unauthorized,
        errors.Forbidden,
        errors.NotFound,
        errors.Conflict,
        errors.Unavailable,
    )
}


def refusal(exc: DomainError | MoveRefused) -> ApplicationError:
    """The refusal as a non-retryable ApplicationError (type = the domain error class name)."""
    if isinstance(exc, MoveRefused):
        return ApplicationError(exc.message, exc.details(), type=exc.kind, non_retryable=True)
    details: dict[str, Any] = {"code": exc.code}
    if isinstance(exc.details, Mapping):
        details.update(exc.details)
    return ApplicationError(exc.message, details, type=type(exc).__name__, non_retryable=True)


def unwrap(err: BaseException) -> ApplicationError | None:
    """The refusal inside an activity's or child's failure, None when it is not one. A local
    activity's non-retryable failure reaches the workflow as the ApplicationError itself, an
    ordinary activity's (or a child's) wrapped in an ActivityError / ChildWorkflowError."""
    cause: BaseException | None = err
    while isinstance(cause, ActivityError | ChildWorkflowError):
        cause = cause.cause
    if isinstance(cause, ApplicationError) and cause.type in REFUSAL_KINDS:
        return cause
    return None


def code_of(err: ApplicationError) -> str:
    """The stable code a refusal carries (its type when it carries none)."""
    details = err.details[0] if err.details else None
    if isinstance(details, dict) and details.get("code"):
        return str(details["code"])
    return err.type or "REFUSED"


def domain_error(err: ApplicationError) -> DomainError:
    """The DomainError a refusal stands for (Conflict when its type names none)."""
    cls = REFUSAL_KINDS.get(err.type or "", errors.Conflict)
    details = dict(err.details[0]) if err.details and isinstance(err.details[0], dict) else {}
    code = details.pop("code", None)
    return cls(err.message, code=code, details=details or None)


async def write_transition(
    session: AsyncSession,
    model: Any,
    history_model: Any,
    entity_id: uuid.UUID,
    seq: int,
    from_status: StrEnum | None,
    to_status: StrEnum,
    actor: Actor,
    notes: str | None,
    changes: Mapping[str, Any],
    *,
    merge: Mapping[str, Mapping[str, Any]] | None = None,
    not_found_code: str = "NOT_FOUND",
) -> bool:
    """Move `model`'s row `entity_id` to `to_status` as history row `seq`; False when an
    earlier attempt had already written it. `changes` are attributes set along with the status
    (None leaves one as it is); `merge` names JSON attributes whose keys are merged in."""
    row = await session.scalar(
        select(model)
        .where(model.id == entity_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise refusal(
            errors.NotFound(f"{model.__name__} {entity_id} not found", code=not_found_code)
        )
    if row.status_seq >= seq:
        return False
    if row.status_seq != seq - 1:
        # Never expected: the workflow writes seq after seq. Retrying cannot heal it.
        raise ApplicationError(
            f"{model.__tablename__} history is at {row.status_seq}, cannot write {seq}",
            type=HISTORY_GAP,
            non_retryable=True,
        )
    for key, value in changes.items():
        if value is not None:
            setattr(row, key, value)
    for key, extra in (merge or {}).items():
        if extra:
            setattr(row, key, {**(getattr(row, key) or {}), **extra})
    row.status = to_status.value
    row.status_seq = seq
    entity_column = _entity_column(model, history_model)
    await session.execute(
        insert(history_model)
        .values(
            {
                entity_column: entity_id,
                "seq": seq,
                "from_status": from_status.value if from_status is not None else None,
                "to_status": to_status.value,
                "changed_by_user_id": actor.user_id,
                "actor_role": actor.role,
                "notes": notes,
            }
        )
        .on_conflict_do_nothing(index_elements=[entity_column, "seq"])
    )
    count_move(session, model.__tablename__, to_status.value)
    return True


async def write_first_history(
    session: AsyncSession,
    model: Any,
    history_model: Any,
    entity_id: uuid.UUID,
    to_status: StrEnum,
    *,
    user_id: uuid.UUID | None,
    role: str | None,
    notes: str | None = None,
) -> None:
    """The history row of a new entity's first status (seq 1, from nothing), written with the
    row that creates it; a repeated attempt writes nothing more."""
    entity_column = _entity_column(model, history_model)
    await session.execute(
        insert(history_model)
        .values(
            {
                entity_column: entity_id,
                "seq": 1,
                "from_status": None,
                "to_status": to_status.value,
                "changed_by_user_id": user_id,
                "actor_role": role,
                "notes": notes,
            }
        )
        .on_conflict_do_nothing(index_elements=[entity_column, "seq"])
    )


def _entity_column(model: Any, history_model: Any) -> str:
    """The history table's column that points at the entity's row."""
    for column in history_model.__table__.columns:
        if any(fk.column.table is model.__table__ for fk in column.foreign_keys):
            return str(column.name)
    raise LookupError(f"{history_model.__name__} has no foreign key to {model.__name__}")
