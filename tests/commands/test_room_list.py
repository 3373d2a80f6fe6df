"""The room list kept in memory: read once, forgotten on every change, never stale on counts;
and the "List rooms" button's listener called on its own, with typed stand-ins."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import pytest
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.service import ConferenceService
from commands.actions.list_rooms import list_rooms
from commands.context import SlackContext
from commands.room_list import RoomList
from telephony.tracker import ParticipantTracker
from tests.commands.conftest import join

T = TypeVar("T")


class Reads:
    """Counts the service's reads of the rooms."""

    def __init__(self, service: ConferenceService, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        for name in ("list_rooms", "get_server"):
            monkeypatch.setattr(service, name, self._counted(getattr(service, name)))

    def _counted(self, read: Callable[[], Awaitable[T]]) -> Callable[[], Awaitable[T]]:
        async def counted() -> T:
            self.count += 1
            return await read()

        return counted


def shown(message: dict[str, Any]) -> str:
    return str(message.get("blocks") or message["text"])


async def test_nobody_following_means_every_call_reads(
    service: ConferenceService, tracker: ParticipantTracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = Reads(service, monkeypatch)
    rooms = RoomList(service, tracker)
    await rooms.message()
    await rooms.message()
    assert reads.count == 4  # rooms and server, twice


async def test_followed_it_reads_once_until_forgotten(
    service: ConferenceService, tracker: ParticipantTracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    await service.create_room(name="Board", conference_id="4242", actor="t")
    reads = Reads(service, monkeypatch)
    rooms = RoomList(service, tracker)
    rooms.follow(True)
    first = await rooms.message()
    assert await rooms.message() is first and reads.count == 2

    await service.create_room(name="Second", conference_id="5151", actor="t")
    assert "Second" not in shown(await rooms.message())  # nobody said it changed
    rooms.forget()
    assert "Second" in shown(await rooms.message()) and reads.count == 4


async def test_counts_and_the_pbx_status_are_never_stale(
    service: ConferenceService, tracker: ParticipantTracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    room = await service.create_room(name="Board", conference_id="4242", actor="t")
    reads = Reads(service, monkeypatch)
    rooms = RoomList(service, tracker)
    rooms.follow(True)
    assert "PBX offline" in shown(await rooms.message())
    tracker.online = True
    assert "nobody in the call" in shown(await rooms.message())
    join(tracker, room.id, "c1")
    assert "1 person in the call" in shown(await rooms.message())
    assert reads.count == 2  # re-rendered from memory


async def test_a_change_during_a_read_is_not_lost(
    service: ConferenceService, tracker: ParticipantTracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    reading, go_on = asyncio.Event(), asyncio.Event()
    read = service.list_rooms

    async def slow() -> Any:
        found = await read()
        reading.set()
        await go_on.wait()
        return found

    monkeypatch.setattr(service, "list_rooms", slow)
    rooms = RoomList(service, tracker)
    rooms.follow(True)
    first = asyncio.create_task(rooms.message())
    await reading.wait()
    await service.create_room(name="Board", conference_id="4242", actor="t")
    rooms.forget()  # as LiveCards does when the service tells it
    go_on.set()
    assert "Board" not in shown(await first)  # read before the change
    monkeypatch.setattr(service, "list_rooms", read)
    assert "Board" in shown(await rooms.message())  # and not kept


class Respond:
    def __init__(self) -> None:
        self.said: list[dict[str, Any]] = []

    async def __call__(self, **message: Any) -> None:
        self.said.append(message)


async def test_the_list_button_answers_from_memory(
    service: ConferenceService, tracker: ParticipantTracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    await service.create_room(name="Board", conference_id="4242", actor="t")
    rooms = RoomList(service, tracker)
    rooms.follow(True)
    await rooms.message()
    reads = Reads(service, monkeypatch)
    # Only what this listener uses is real; the rest of the context is never touched.
    ctx = cast(SlackContext, type("Ctx", (), {"rooms": rooms})())
    ack, respond = AsyncAck(), Respond()
    await list_rooms(ctx, ack, cast(AsyncRespond, respond))
    assert ack.response is not None and ack.response.status == 200
    (said,) = respond.said
    assert said["replace_original"] is False and said["response_type"] == "ephemeral"
    assert "*Board*" in shown(said) and reads.count == 0
