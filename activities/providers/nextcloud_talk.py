"""Video rooms on Nextcloud Talk (spreed) through its OCS API: a public room per key, deleted on
revocation. Implements the VideoRooms port of activities/providers/video.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from activities.providers.video import VideoRoom

TIMEOUT_SECONDS = 30.0
ROOM_PATH = "/ocs/v2.php/apps/spreed/api/v4/room"
# Talk's room types: 1 one-to-one, 2 group, 3 public (joinable by link, guests included).
PUBLIC_ROOM = 3


class NextcloudTalkError(Exception):
    """Talk refused or failed a call; the text names the status only (no room names)."""


class NextcloudTalkRooms:
    """Rooms as the platform's Nextcloud user (basic auth with an app password). A room is named
    by its key (ids only, never a person's name), so a retry finds the room made before instead
    of making a second one."""

    provider = "nextcloud"

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
    ) -> None:
        if not (base_url and username and password):
            raise ValueError("NextcloudTalkRooms needs the Nextcloud URL, user and app password")
        self._base_url = base_url.rstrip("/")
        self._auth = httpx.BasicAuth(username, password)

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self._base_url,
            auth=self._auth,
            headers={"OCS-APIRequest": "true", "Accept": "application/json"},
            timeout=TIMEOUT_SECONDS,
        )

    @staticmethod
    def _data(response: httpx.Response, what: str) -> Any:
        if response.status_code >= 300:
            raise NextcloudTalkError(f"nextcloud talk {what}: HTTP {response.status_code}")
        try:
            return response.json()["ocs"]["data"]
        except (ValueError, KeyError, TypeError):
            raise NextcloudTalkError(f"nextcloud talk {what}: not an OCS answer") from None

    async def create_room(self, key: str, starts_at: datetime, ends_at: datetime) -> VideoRoom:
        async with self._client() as client:
            rooms = self._data(await client.get(ROOM_PATH), "list rooms")
            for room in rooms if isinstance(rooms, list) else []:
                if isinstance(room, dict) and room.get("name") == key and room.get("token"):
                    return self._room(str(room["token"]))
            created = self._data(
                await client.post(ROOM_PATH, data={"roomType": PUBLIC_ROOM, "roomName": key}),
                "create room",
            )
        token = created.get("token") if isinstance(created, dict) else None
        if not token:
            raise NextcloudTalkError("nextcloud talk create room: no token in the answer")
        return self._room(str(token))

    async def revoke_room(self, room_id: str) -> None:
        async with self._client() as client:
            response = await client.delete(f"{ROOM_PATH}/{quote(room_id, safe='')}")
        # 404: already deleted (or never made), which is what revoking asks for.
        if response.status_code == 404:
            return
        self._data(response, "delete room")

    def join_url(self, room: VideoRoom, *, party: str, user_id: str, expires_at: datetime) -> str:
        # A public room's link; Talk has no per-participant expiring links.
        return room.url

    def _room(self, token: str) -> VideoRoom:
        return VideoRoom(room_id=token, url=f"{self._base_url}/call/{quote(token, safe='')}")
