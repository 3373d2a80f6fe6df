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


class NotTaken:
    """An observer that could not carry a change out in time (the PBX sync, frozen PBX)."""

    async def room_changed(self, change: RoomChange) -> None:
        raise errors.ChangeNotApplied(f'room "{change.room.name}" not applied yet')

    async def server_changed(self, server: Server | None) -> None:
        raise errors.ChangeNotApplied("server not applied yet")


async def test_a_change_not_applied_is_raised_after_every_observer(
    service: ConferenceService,
) -> None:
    """Saved and audited, every observer told, and the caller hears it is not done."""
    recorder = Recorder()
    service.add_observer(NotTaken())
    service.add_observer(Broken())
    service.add_observer(recorder)
    with pytest.raises(errors.ChangeNotApplied, match='room "Sales" not applied yet'):
        await make_room(service)
    with pytest.raises(errors.ChangeNotApplied):
        await service.update_room("Sales", actor=ADMIN, pin="1234")
    with pytest.raises(errors.ChangeNotApplied, match="server not applied yet"):
        await service.assign_number("+15551234567", ADMIN)
    with pytest.raises(errors.ChangeNotApplied):
        await service.delete_room("Sales", actor=ADMIN)
    assert [c.kind for c in recorder.rooms] == ["created", "updated", "deleted"]
    assert recorder.servers[-1] is not None
    assert [e.action for e in await service.audit_log(4)] == [
        "room.delete", "number.assign", "room.update", "room.create",
    ]  # fmt: skip
