"""Keeps Asterisk's AstDB in step with the rooms, so the static dialplan can route callers.

The key layout is ``telephony.naming``'s (the dialplan reads the same keys). The sync needs
the rooms and the server as committed (``RoomSource``, which the service provides) and is told
of every change as an observer (``bot.changes``).

AstDB persists inside Asterisk, so calls keep working while the bot is down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Protocol

from bot.changes import RoomChange
from bot.models import Room, Server
from telephony.ami import AmiClient
from telephony.errors import PbxActionFailed, PbxUnavailable
from telephony.naming import (
    EXTENSION_KEY,
    LANG_KEY,
    MAX_KEY,
    NUMBER_KEY,
    PIN_KEY,
    ROOM_KEY,
    ROOMS_FAMILY,
    SERVER_FAMILY,
    bridge_name,
    room_family,
    stored_conference_id,
)

log = logging.getLogger(__name__)

UPDATE_BUDGET = 1.5  # seconds one change may take to reach AstDB before we defer it


class RoomSource(Protocol):
    """What a full resync reads: the rooms and the server as committed."""

    async def list_rooms(self) -> list[Room]: ...

    async def get_server(self) -> Server | None: ...


class AstDbSync:
    """An observer (``bot.changes.Observer``) writing every committed change to AstDB."""

    def __init__(self, ami: AmiClient, rooms: RoomSource) -> None:
        self._ami = ami
        self._rooms = rooms
        self.synced = False  # True once a full resync finished on the current connection
        self._retry: asyncio.Future[None] | None = None

    def subscribe(self) -> None:
        self._ami.on_ready(self.resync)
        self._ami.on_down(self._down)

    async def _down(self) -> None:
        self.synced = False

    async def _put(self, family: str, key: str, value: str) -> None:
        await self._ami.action({"Action": "DBPut", "Family": family, "Key": key, "Val": value})

    async def _del_tree(self, family: str) -> None:
        # DBDelTree on a missing family is an error reply; absent is what we want anyway.
        try:
            await self._ami.action({"Action": "DBDelTree", "Family": family})
        except PbxUnavailable:
            raise
        except Exception as exc:  # PbxActionFailed: nothing to delete
            log.debug("DBDelTree %s: %s", family, exc)

    async def _del(self, family: str, key: str) -> None:
        try:
            await self._ami.action({"Action": "DBDel", "Family": family, "Key": key})
        except PbxUnavailable:
            raise
        except Exception as exc:
            log.debug("DBDel %s/%s: %s", family, key, exc)

    async def write_room(self, room: Room) -> None:
        """Write a room's keys, the ``room`` key last: callers are admitted only once it
        exists (and the dialplan also refuses an ID whose ``pin`` key is missing), so a
        half-written room can never be joined without its PIN."""
        family = room_family(room.conference_id)
        await self._put(family, PIN_KEY, room.pin or "")
        await self._put(family, MAX_KEY, str(room.max_participants))
        await self._put(family, LANG_KEY, room.language)
        await self._put(family, ROOM_KEY, str(room.id))

    async def write_server(self, server: Server | None) -> None:
        if server is None:
            await self._del_tree(SERVER_FAMILY)
            return
        await self._put(SERVER_FAMILY, EXTENSION_KEY, server.extension)
        if server.phone_number:
            await self._put(SERVER_FAMILY, NUMBER_KEY, server.phone_number)
        else:
            await self._del(SERVER_FAMILY, NUMBER_KEY)

    # -- Observer -------------------------------------------------------------------------

    async def room_changed(self, change: RoomChange) -> None:
        if not self._ami.connected:
            return  # resync on reconnect brings Asterisk up to date
        await self._bounded(self._apply_room(change), f"room {change.room.id}")

    async def server_changed(self, server: Server | None) -> None:
        if self._ami.connected:
            await self._bounded(self.write_server(server), "the server")

    async def _bounded(self, work: Awaitable[None], what: str) -> None:
        """Run one update within a budget: front ends (a Slack modal has 3 s) wait for it.

        On failure the change is already saved; a background resync brings Asterisk up to date.
        """
        try:
            async with asyncio.timeout(UPDATE_BUDGET):
                await work
        except (TimeoutError, PbxUnavailable, PbxActionFailed) as exc:
            log.warning("AstDB update for %s failed (%s); resyncing in the background",
                        what, type(exc).__name__)  # fmt: skip
            self._resync_soon()

    def _resync_soon(self) -> None:
        if self._retry is not None and not self._retry.done():
            return
        self._retry = asyncio.ensure_future(self._resync_until_done())

    async def _resync_until_done(self) -> None:
        delay = 0.5
        while True:
            await asyncio.sleep(delay)
            if self._ami.connected:
                try:
                    await self.resync()
                    return
                except (PbxUnavailable, PbxActionFailed) as exc:
                    log.warning("AstDB resync failed (%s); trying again", exc)
            delay = min(delay * 2, 10.0)

    async def settle(self, timeout: float) -> bool:
        """Wait for a deferred resync, if any; False if Asterisk is still not up to date."""
        if self._retry is None or self._retry.done():
            return True
        try:
            await asyncio.wait_for(asyncio.shield(self._retry), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()

    async def _apply_room(self, change: RoomChange) -> None:
        if change.kind == "deleted":
            await self._del_tree(room_family(change.room.conference_id))
            # Callers still in a deleted room hear goodbye (dialplan, on KICKED) and leave.
            try:
                await self._ami.action(
                    {
                        "Action": "ConfbridgeKick",
                        "Conference": bridge_name(change.room.id),
                        "Channel": "all",
                    }
                )
            except PbxUnavailable:
                raise
            except Exception as exc:  # nobody in the room
                log.debug("kick on delete of room %s: %s", change.room.id, exc)
            return
        # Write the new entry first, then drop a replaced conference ID: no gap for callers.
        await self.write_room(change.room)
        if change.previous and change.previous.conference_id != change.room.conference_id:
            await self._del_tree(room_family(change.previous.conference_id))

    # -- full resync ----------------------------------------------------------------------

    async def stored_conference_ids(self) -> set[str]:
        response = await self._ami.action(
            {"Action": "Command", "Command": f"database show {ROOMS_FAMILY}"}
        )
        lines = response.get("Output", [])
        if isinstance(lines, str):
            lines = [lines]
        if not lines and response.content:
            lines = response.content.splitlines()
        found = set()
        for line in lines:
            cid = stored_conference_id(str(line))
            if cid is not None:
                found.add(cid)
        return found

    async def resync(self) -> None:
        """Make AstDB equal the database: write every room, then remove stale ones."""
        rooms = await self._rooms.list_rooms()
        server = await self._rooms.get_server()
        await self.write_server(server)
        for room in rooms:
            await self.write_room(room)
        stored = await self.stored_conference_ids()
        # Compare with the rooms as they are now: one created meanwhile is not stale.
        current = {r.conference_id for r in await self._rooms.list_rooms()}
        stale = stored - current
        for cid in stale:
            await self._del_tree(room_family(cid))
        self.synced = True
        log.info("AstDB resynced: %d rooms, %d stale removed", len(current), len(stale))
