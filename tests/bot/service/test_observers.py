"""Observers (``bot.changes``) hear of committed changes only; a failing one hides nothing."""

from __future__ import annotations

import pytest

from bot import errors
from bot.changes import RoomChange
from bot.models import Server
from bot.service import ConferenceService
from tests.bot.service.common import ADMIN, make_room


class Recorder:
    def __init__(self) -> None:
        self.rooms: list[RoomChange] = []
        self.servers: list[Server | None] = []

    async def room_changed(self, change: RoomChange) -> None:
        self.rooms.append(change)

    async def server_changed(self, server: Server | None) -> None:
        self.servers.append(server)


class Broken:
    async def room_changed(self, change: RoomChange) -> None:
        raise RuntimeError("PBX unreachable")

    async def server_changed(self, server: Server | None) -> None:
        raise RuntimeError("PBX unreachable")


async def test_observers_told_after_commit(
    service: ConferenceService, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    service.add_observer(Broken())
    service.add_observer(recorder)
    room = await make_room(service)
    await service.update_room("Sales", actor=ADMIN, pin="1234")
    with pytest.raises(errors.DuplicateName):
        await make_room(service, "sales", "999")
    await service.delete_room("Sales", actor=ADMIN)
    await service.assign_number("+15551234567", ADMIN)
    assert [c.kind for c in recorder.rooms] == ["created", "updated", "deleted"]
    assert recorder.rooms[1].previous == room and recorder.rooms[1].room.pin == "1234"
    assert recorder.servers[-1] is not None and recorder.servers[-1].phone_number == "+15551234567"
    assert "PBX unreachable" in caplog.text
    assert await service.list_rooms() == []
