"""Video rooms for teleconsultations: the port (VideoRooms) and the Jitsi adapter (JitsiRooms).

Which adapter serves is picked in activities/providers/wiring.py (MEDIVOY_VIDEO_PROVIDER). A room
is made once per key (the appointment), kept across a reschedule and revoked on cancellation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import quote

import jwt


@dataclass(frozen=True)
class VideoRoom:
    room_id: str
    url: str


class VideoRooms(Protocol):
    provider: str

    async def create_room(self, key: str, starts_at: datetime, ends_at: datetime) -> VideoRoom:
        """The room for this key: made on the first call, the same room on every later one."""
        ...

    async def revoke_room(self, room_id: str) -> None:
        """Nobody joins the room any more; revoking twice (or an unknown room) is a success."""
        ...

    def join_url(self, room: VideoRoom, *, party: str, user_id: str, expires_at: datetime) -> str:
        """The link one participant opens, valid until expires_at where the provider allows."""
        ...


class JitsiRooms:
    """Rooms on a Jitsi Meet server. A Jitsi room exists while someone is in it, so making one is
    naming it: the name is an HMAC of the key under a server-side secret (unguessable, and the
    same for the same key, so a retry makes the same room). With a JWT secret (the server's
    token authentication, `app_id` + `app_secret` in prosody), every join link carries a signed
    HS256 token for that room only, expiring at the end of the consultation; without one the
    room's name is the only protection. Revoking stops the platform from handing out links
    (the appointment forgets its room); with tokens, the last ones expire at the end anyway."""

    provider = "jitsi"

    def __init__(
        self,
        base_url: str,
        room_secret: str,
        *,
        app_id: str = "medivoy",
        jwt_secret: str = "",
    ) -> None:
        if not room_secret:
            raise ValueError("JitsiRooms needs a secret to name its rooms")
        self._base_url = base_url.rstrip("/")
        self._room_secret = room_secret.encode()
        self._app_id = app_id
        self._jwt_secret = jwt_secret

    def room_name(self, key: str) -> str:
        digest = hmac.new(self._room_secret, key.encode(), hashlib.sha256).digest()
        # 160 bits in lower-case base32: unguessable, and safe in a URL path.
        return "medivoy-" + base64.b32encode(digest[:20]).decode().lower().rstrip("=")

    async def create_room(self, key: str, starts_at: datetime, ends_at: datetime) -> VideoRoom:
        name = self.room_name(key)
        return VideoRoom(room_id=name, url=f"{self._base_url}/{quote(name)}")

    async def revoke_room(self, room_id: str) -> None:
        # Nothing lives on the server between calls: see the class's note.
        return None

    def join_url(self, room: VideoRoom, *, party: str, user_id: str, expires_at: datetime) -> str:
        if not self._jwt_secret:
            return room.url
        claims = {
            "aud": self._app_id,
            "iss": self._app_id,
            "sub": "*",
            "room": room.room_id,
            "exp": int(expires_at.timestamp()),
            # Ids only: the token is readable by anyone who holds the link.
            "context": {"user": {"id": user_id, "moderator": party == "doctor"}},
        }
        token = jwt.encode(claims, self._jwt_secret, algorithm="HS256")
        return f"{room.url}?jwt={token}"
