"""The audit trail: every change a request makes to the database is written, in the same
transaction, as an audit_logs row (who, action, entity, changes, IP, user agent)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from api import context
from domain.models.audit import AuditLog

REDACTED = "***"
SECRET_FIELDS = {"password_hash", "token_hash"}


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _value(key: str, value: Any) -> Any:
    return REDACTED if key in SECRET_FIELDS and value is not None else _plain(value)


def _snapshot(obj: Any) -> dict[str, Any]:
    state = inspect(obj)
    return {key: _value(key, value) for key, value in state.dict.items() if not key.startswith("_")}


def _diff(obj: Any) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    state = inspect(obj)
    for attr in state.attrs:
        history = attr.load_history()
        if not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        changes[attr.key] = {"from": _value(attr.key, old), "to": _value(attr.key, new)}
    return changes


class AuditedSession(Session):
    """The session class of API requests."""


@event.listens_for(AuditedSession, "before_flush")
def _write_audit(session: Session, _flush_context: Any, _instances: Any) -> None:
    ctx = context.get()
    if ctx is None:
        return
    entries: list[AuditLog] = []
    for op, objects in (
        ("create", session.new),
        ("update", session.dirty),
        ("delete", session.deleted),
    ):
        for obj in list(objects):
            if isinstance(obj, AuditLog):
                continue
            if op == "update" and not session.is_modified(obj, include_collections=False):
                continue
            table = getattr(obj, "__tablename__", type(obj).__name__)
            if op == "create" and getattr(obj, "id", None) is None:
                obj.id = uuid.uuid4()  # so the entry can name it
            changes = _snapshot(obj) if op in ("create", "delete") else _diff(obj)
            entries.append(
                AuditLog(
                    id=uuid.uuid4(),
                    user_id=ctx.user_id,
                    action=f"{ctx.action or 'request'}:{op}",
                    entity_type=table,
                    entity_id=getattr(obj, "id", None),
                    changes=changes,
                    ip_address=ctx.ip,
                    user_agent=(ctx.user_agent or "")[:500] or None,
                    request_id=ctx.request_id,
                )
            )
    session.add_all(entries)


def record(
    session: Session | Any,
    entity_type: str,
    entity_id: uuid.UUID | None,
    changes: dict[str, Any],
    op: str = "update",
) -> None:
    """An explicit entry for bulk statements, which the flush hook cannot see."""
    ctx = context.get()
    if ctx is None:
        return
    session.add(
        AuditLog(
            id=uuid.uuid4(),
            user_id=ctx.user_id,
            action=f"{ctx.action or 'request'}:{op}",
            entity_type=entity_type,
            entity_id=entity_id,
            changes={k: _plain(v) for k, v in changes.items()},
            ip_address=ctx.ip,
            user_agent=(ctx.user_agent or "")[:500] or None,
            request_id=ctx.request_id,
        )
    )
