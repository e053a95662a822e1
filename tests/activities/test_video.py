"""The Jitsi adapter: one unguessable room per appointment, join links signed for that room."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from activities.providers.video import JitsiRooms

START = datetime(2026, 3, 1, 10, tzinfo=UTC)
END = START + timedelta(minutes=30)


async def test_a_room_is_the_same_for_its_key_and_unguessable_from_it() -> None:
    rooms = JitsiRooms("https://meet.example.org/", "room-secret")
    first = await rooms.create_room("appointment:1", START, END)
    again = await rooms.create_room("appointment:1", START, END)
    other = await rooms.create_room("appointment:2", START, END)
    elsewhere = await JitsiRooms("https://meet.example.org", "another").create_room(
        "appointment:1", START, END
    )
    assert first == again
    assert first.room_id != other.room_id != elsewhere.room_id
    assert "appointment" not in first.room_id and len(first.room_id) >= 32
    assert first.url == f"https://meet.example.org/{first.room_id}"
    # Without token auth the room's name is the link.
    assert rooms.join_url(first, party="patient", user_id="u", expires_at=END) == first.url
    await rooms.revoke_room(first.room_id)
    await rooms.revoke_room(first.room_id)


async def test_with_a_secret_each_link_carries_a_token_for_its_room_until_the_end() -> None:
    rooms = JitsiRooms("https://meet.example.org", "room", app_id="medivoy", jwt_secret="s3cret")
    room = await rooms.create_room("appointment:1", START, END)
    link = rooms.join_url(room, party="doctor", user_id="doc-1", expires_at=END)
    assert link.startswith(room.url + "?jwt=")
    token = link.split("?jwt=", 1)[1]
    claims = jwt.decode(
        token, "s3cret", algorithms=["HS256"], audience="medivoy", options={"verify_exp": False}
    )
    assert claims["room"] == room.room_id
    assert claims["exp"] == int(END.timestamp())
    assert claims["context"]["user"] == {"id": "doc-1", "moderator": True}
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "guess", algorithms=["HS256"], audience="medivoy")
