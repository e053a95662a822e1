"""Per-request context (request id, caller, client) shared by logs and the audit trail."""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class RequestContext:
    request_id: str
    ip: str | None = None
    user_agent: str | None = None
    user_id: uuid.UUID | None = None
    action: str | None = None
    # The platform's languages, source first (api/i18n.platform_locales of the app's settings).
    locales: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)


current: ContextVar[RequestContext | None] = ContextVar("medivoy_request", default=None)


def get() -> RequestContext | None:
    return current.get()
