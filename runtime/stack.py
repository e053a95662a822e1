"""The stack file: what a running `medivoy dev` tells the other verbs about itself.

`medivoy dev` writes `<data dir>/stack.json` once everything answers and removes it when it
stops; the other verbs read it to find the database and Temporal when MEDIVOY_* leave them unset.
This module is the file's one owner: its name, its fields, how it is written and read.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runtime.settings import Settings

STACK_FILE = "stack.json"
JWT_SECRET_FILE = "jwt_secret"
# The development payload key `medivoy dev` generates: {"<key id>": "<base64 key>"}.
PAYLOAD_KEYS_FILE = "payload_keys.json"
# The embedded Stripe's store (localstripe's objects, pickled) and its webhook signing secret.
STRIPE_STATE_FILE = "stripe.pickle"
STRIPE_WEBHOOK_SECRET_FILE = "stripe_webhook_secret"
LOGS = ("api", "worker", "temporal", "postgres")


@dataclass(frozen=True)
class StackInfo:
    pid: int
    data_dir: str
    api_url: str
    database_url: str
    temporal_address: str
    temporal_ui_url: str | None = None
    # The embedded Stripe (localstripe) when `medivoy dev` runs one, else None.
    stripe_api_base: str | None = None
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    logs: dict[str, str] = field(default_factory=dict)

    @property
    def docs_url(self) -> str:
        return self.api_url + "/docs"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "docs_url": self.docs_url}

    @classmethod
    def from_json(cls, data: object) -> StackInfo | None:
        """None for anything that is not a stack file this code wrote."""
        if not isinstance(data, dict):
            return None
        try:
            pid = data["pid"]
            if not isinstance(pid, int) or isinstance(pid, bool):
                return None
            logs = data.get("logs") or {}
            return cls(
                pid=pid,
                data_dir=str(data["data_dir"]),
                api_url=str(data["api_url"]),
                database_url=str(data["database_url"]),
                temporal_address=str(data["temporal_address"]),
                temporal_ui_url=(
                    str(data["temporal_ui_url"]) if data.get("temporal_ui_url") else None
                ),
                stripe_api_base=(
                    str(data["stripe_api_base"]) if data.get("stripe_api_base") else None
                ),
                started_at=str(data.get("started_at", "")),
                logs={str(k): str(v) for k, v in logs.items()} if isinstance(logs, dict) else {},
            )
        except KeyError:
            return None


def stack_file(data_dir: Path) -> Path:
    return data_dir / STACK_FILE


def log_files(data_dir: Path, *, stripe: bool = False) -> dict[str, str]:
    names = (*LOGS, "stripe") if stripe else LOGS
    return {name: str(data_dir / f"{name}.log") for name in names}


def write(data_dir: Path, info: StackInfo) -> Path:
    """Atomically, readable by its owner only (it names the database)."""
    path = stack_file(data_dir)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(info.to_json(), out, indent=2)
    tmp.replace(path)
    return path


def remove(data_dir: Path) -> None:
    stack_file(data_dir).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_running(settings: Settings) -> StackInfo | None:
    """What a running `medivoy dev` wrote about itself, or None when none runs here."""
    try:
        data = json.loads(stack_file(settings.data_dir).read_text())
    except (OSError, ValueError):
        return None
    info = StackInfo.from_json(data)
    if info is None or not _alive(info.pid):
        return None
    return info


def read_payload_keys(path: Path) -> dict[str, str]:
    """MEDIVOY_PAYLOAD_KEYS / _KEY_ID for the keys in a payload key file ({} when none is
    there); the first key listed is the current one."""
    try:
        keys = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(keys, dict) or not keys:
        return {}
    return {
        "MEDIVOY_PAYLOAD_KEYS": json.dumps({str(k): str(v) for k, v in keys.items()}),
        "MEDIVOY_PAYLOAD_KEY_ID": str(next(iter(keys))),
    }
