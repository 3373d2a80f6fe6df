"""The room list that ``/conference list`` and the "List rooms" button show, kept in memory.

Listing is the most common request, and it used to read every room and the server from the
database (two reads under its lock, each a round trip to the database thread) and render a
block a room, every time. Now the rooms and the server are read once and kept until one of
them changes, and the message is rendered once for each state of the rooms, their counts and
the PBX status. Counts and status are read from the tracker on every call (in memory), so
they are never stale; the rooms and the server are forgotten on every commit: this process's
(the service tells its observers, ``LiveCards`` among them) and other processes' (``LiveCards``
polls SQLite's data_version, so a change from the CLI shows within its watch interval).

Nothing is kept unless someone promises those ``forget()`` calls (``follow(True)``): a
``RoomList`` nobody follows reads the database every time, as before.
"""

from __future__ import annotations

from typing import Any

from bot.models import Room, Server
from bot.service import ConferenceService
from commands.blocks import messages
from telephony.tracker import ParticipantTracker

State = tuple[list[Room], Server | None]


class RoomList:
    def __init__(self, service: ConferenceService, tracker: ParticipantTracker) -> None:
        self._service = service
        self._tracker = tracker
        self._following = False
        self._generation = 0  # moves on every forget(): a read begun before it is stale
        self._state: State | None = None
        self._shown: tuple[dict[int, int], bool] | None = None  # what the message shows
        self._message: dict[str, Any] | None = None

    def follow(self, following: bool) -> None:
        """Keep what is read (True) for as long as every change calls ``forget()``."""
        self._following = following
        self.forget()

    def forget(self) -> None:
        """A room or the server changed (or may have): read them again next time."""
        self._generation += 1
        self._state = None
        self._message = None

    async def state(self) -> State:
        """Every room and the server, as of the last change."""
        state = self._state
        if state is None:
            generation = self._generation
            state = (await self._service.list_rooms(), await self._service.get_server())
            if self._following and generation == self._generation:
                self._state = state
        return state

    async def message(self) -> dict[str, Any]:
        """The list as an ephemeral message (rooms, IDs, PIN or not, live counts)."""
        shown = (self._tracker.counts(), self._tracker.online)
        if self._message is not None and self._shown == shown:
            return self._message
        generation = self._generation
        rooms, server = await self.state()
        message = messages.room_list(rooms, shown[0], shown[1], server)
        if self._following and generation == self._generation:
            self._message, self._shown = message, shown
        return message
