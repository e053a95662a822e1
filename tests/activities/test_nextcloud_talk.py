"""The Nextcloud Talk adapter against a local server speaking Talk's OCS room API (v4): one
public room per key, deleted on revocation, joined by its /call/<token> link."""

from __future__ import annotations

import base64
import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from activities.providers.nextcloud_talk import NextcloudTalkError, NextcloudTalkRooms
from activities.providers.wiring import build_video_rooms
from runtime.settings import Settings

ROOM_PATH = "/ocs/v2.php/apps/spreed/api/v4/room"
USER, PASSWORD = "medivoy", "app-password-1234"
START = datetime(2026, 3, 1, 10, tzinfo=UTC)
END = START + timedelta(minutes=30)


class TalkServer:
    """Talk's room endpoints as documented: OCS envelope, basic auth, the OCS-APIRequest header
    (without it Nextcloud refuses the call as a CSRF failure)."""

    def __init__(self) -> None:
        self.rooms: dict[str, dict[str, object]] = {}
        self.created = 0

    @staticmethod
    def _ocs(data: object, status: int = 200) -> Response:
        body = {
            "ocs": {"meta": {"status": "ok", "statuscode": status, "message": "OK"}, "data": data}
        }
        return Response(json.dumps(body), status=status, content_type="application/json")

    def __call__(self, request: Request) -> Response:
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return self._ocs([], 401)
        if request.headers.get("OCS-APIRequest") != "true":
            return Response('{"message":"CSRF check failed"}', status=412)
        if request.path == ROOM_PATH and request.method == "GET":
            return self._ocs(list(self.rooms.values()))
        if request.path == ROOM_PATH and request.method == "POST":
            form = parse_qs(request.get_data(as_text=True))
            if form.get("roomType") != ["3"] or not form.get("roomName"):
                return self._ocs([], 400)
            token = secrets.token_hex(4)
            self.created += 1
            self.rooms[token] = {"token": token, "name": form["roomName"][0], "type": 3}
            return self._ocs(self.rooms[token], 201)
        if request.path.startswith(ROOM_PATH + "/") and request.method == "DELETE":
            token = request.path.rsplit("/", 1)[1]
            if self.rooms.pop(token, None) is None:
                return self._ocs([], 404)
            return self._ocs([])
        return Response(status=405)


@pytest.fixture
def talk(httpserver: HTTPServer) -> TalkServer:
    server = TalkServer()
    httpserver.expect_request(re.compile(re.escape(ROOM_PATH) + "(/.+)?$")).respond_with_handler(
        server
    )
    return server


def _rooms(httpserver: HTTPServer, password: str = PASSWORD) -> NextcloudTalkRooms:
    return NextcloudTalkRooms(httpserver.url_for("/").rstrip("/") + "/", USER, password)


async def test_a_public_room_is_made_once_per_key_and_joined_by_its_call_link(
    httpserver: HTTPServer, talk: TalkServer
) -> None:
    rooms = _rooms(httpserver)

    first = await rooms.create_room("appointment-1", START, END)
    again = await rooms.create_room("appointment-1", START, END)
    other = await rooms.create_room("appointment-2", START, END)

    assert first == again
    assert talk.created == 2
    assert talk.rooms[first.room_id]["name"] == "appointment-1"
    assert first.room_id != other.room_id
    base = httpserver.url_for("/").rstrip("/")
    assert first.url == f"{base}/call/{first.room_id}"
    assert rooms.join_url(first, party="patient", user_id="u", expires_at=END) == first.url


async def test_revoking_deletes_the_room_and_twice_is_a_success(
    httpserver: HTTPServer, talk: TalkServer
) -> None:
    rooms = _rooms(httpserver)
    room = await rooms.create_room("appointment-3", START, END)

    await rooms.revoke_room(room.room_id)
    await rooms.revoke_room(room.room_id)

    assert talk.rooms == {}
    # A room made again after revocation is a new one (the old link stays dead).
    remade = await rooms.create_room("appointment-3", START, END)
    assert remade.room_id != room.room_id


async def test_a_wrong_app_password_fails_without_making_a_room(
    httpserver: HTTPServer, talk: TalkServer
) -> None:
    with pytest.raises(NextcloudTalkError, match="HTTP 401"):
        await _rooms(httpserver, password="wrong").create_room("appointment-4", START, END)
    assert talk.rooms == {}


def test_the_wiring_builds_nextcloud_talk_when_selected() -> None:
    settings = Settings(
        video_provider="nextcloud",
        nextcloud_url="https://cloud.example.org",
        nextcloud_username=USER,
        nextcloud_password=PASSWORD,
    )
    assert isinstance(build_video_rooms(settings), NextcloudTalkRooms)
