"""Keeps Asterisk's AstDB in step with the rooms, so the static dialplan can route callers.

The key layout is ``telephony.naming``'s (the dialplan reads the same keys). The sync needs
the rooms and the server as committed (``RoomSource``, which the service provides) and is told
of every change as an observer (``bot.changes``).

A change counts as done only once AstDB has confirmed it: every ``DBPut``/``DBDelTree`` of
it answered ``Success``, or a full resync that began after it was committed finished. An
observer call waits for that at most ``confirm_within`` seconds (a Slack modal has 3 s, the
CLI's ``--wait`` more); past that it raises ``bot.errors.ChangeNotApplied``, which says what
callers still get, and the sync keeps trying every ``retry_interval`` until AstDB is up to
date. While Asterisk is frozen each attempt waits for its reply, so the attempt under way
completes the moment it thaws. ``watch`` also catches up with changes committed by other
processes (the CLI) that they could not apply themselves.

AstDB persists inside Asterisk, so calls keep working while the bot is down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from bot.changes import RoomChange
from bot.errors import ChangeNotApplied
from bot.models import Room, Server
from telephony.ami import AmiClient
from telephony.errors import PbxActionFailed, PbxUnavailable
from telephony.naming import (
    EXTENSION_KEY,
    LANG_KEY,
    MAX_KEY,
    MODPIN_KEY,
    NUMBER_KEY,
    OPTS_KEY,
    PIN_KEY,
    ROOM_KEY,
    ROOMS_FAMILY,
    SERVER_FAMILY,
    bridge_name,
    lobby_family,
    option_letters,
    room_family,
    room_of,
    stored_conference_id,
)

log = logging.getLogger(__name__)

UPDATE_BUDGET = 1.5  # seconds a change may take to be confirmed before the caller hears so
RETRY_INTERVAL = 0.5  # seconds between two attempts while AstDB is behind: short, so a
# thawed or restarted PBX is brought up to date at once (not after a growing backoff)
WATCH_INTERVAL = 0.5  # seconds between two looks for commits of other processes

_FAILED = (PbxUnavailable, PbxActionFailed)


class RoomSource(Protocol):
    """What a full resync reads: the rooms and the server as committed, and the database's
    version, which changes when another process commits."""

    async def list_rooms(self) -> list[Room]: ...

    async def get_server(self) -> Server | None: ...

    async def data_version(self) -> int: ...


def _seconds(value: float) -> str:
    return f"{value:g} s"


def room_pending(change: RoomChange, waited: float) -> str:
    """What to tell whoever made ``change`` when AstDB did not confirm it: what callers still
    get meanwhile (never a PIN)."""
    room, name = change.room, f'"{change.room.name}"'
    late = f"the phone system (PBX) did not confirm it within {_seconds(waited)}"
    then = "It is applied as soon as the PBX answers; the bot keeps trying."
    if change.kind == "created":
        return f"Room {name} is saved, but {late}, so callers cannot join it yet. {then}"
    if change.kind == "deleted":
        return (
            f"Room {name} is deleted here, but {late}: callers can still join it with "
            f"conference ID {room.conference_id}. {then}"
        )
    before = change.previous or room
    held: list[str] = []
    if before.conference_id != room.conference_id:
        held.append(f"callers still dial conference ID {before.conference_id}")
    if before.pin != room.pin:
        if before.pin is None:
            held.append("callers still get in without a PIN")
        elif room.pin is None:
            held.append("callers are still asked for the old PIN")
        else:
            held.append("the old PIN still works")
    if before.max_participants != room.max_participants:
        held.append(f"the limit is still {before.max_participants}")
    if before.language != room.language:
        held.append("callers still hear the old prompts")
    if before.moderator_pin != room.moderator_pin:
        held.append("the old moderator PIN still applies")
    if option_letters(before.options()) != option_letters(room.options()):
        held.append("the old call options still apply")
    still = "; ".join(held) or "callers still get the old settings"
    return (
        f"The change to room {name} is saved, but {late}, and it still has the old "
        f"settings: {still}. {then}"
    )


def server_pending(server: Server | None, waited: float) -> str:
    """As ``room_pending``, for the server's extension and phone number."""
    late = f"the phone system (PBX) did not confirm {{}} within {_seconds(waited)}"
    if server is None:
        return (
            f"The conference server is deleted here, but {late.format('it')} and still "
            "answers its old extension. It is applied as soon as the PBX answers; the bot "
            "keeps trying."
        )
    return (
        f"The server's settings are saved, but {late.format('them')}: callers still reach "
        "it at its old extension and phone number. They are applied as soon as the PBX "
        "answers; the bot keeps trying."
    )


def _stored(room: Room) -> tuple[str, str, int, str, str, str]:
    """What AstDB holds of a room (besides its stable id, which never changes)."""
    return (room.conference_id, room.pin or "", room.max_participants, room.language,
            room.moderator_pin or "", option_letters(room.options()))  # fmt: skip


class AstDbSync:
    """An observer (``bot.changes.Observer``) writing every committed change to AstDB."""

    def __init__(
        self,
        ami: AmiClient,
        rooms: RoomSource,
        *,
        confirm_within: float = UPDATE_BUDGET,
        retry_interval: float = RETRY_INTERVAL,
    ) -> None:
        self._ami = ami
        self._rooms = rooms
        self.confirm_within = confirm_within
        self._retry_interval = retry_interval
        self.synced = False  # True once a full resync finished on the current connection
        # Generations: ``_wanted`` grows whenever AstDB may be behind the database (a change
        # not applied directly, another process's commit, a failed resync); ``_reached`` is
        # the generation the last full resync covered (it read the database after it began).
        self._wanted = 0
        self._reached = 0
        self._progress = asyncio.Event()  # set (and replaced) whenever ``_reached`` moves
        self._lock = asyncio.Lock()  # one writer at a time: a resync never undoes a change
        self._catching_up: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        # Checked by the background loops too: a cancellation that lands while an
        # asyncio.timeout() expires can surface as TimeoutError and be retried like any
        # failure, so cancelling alone could leave a loop running (seen: close() hung).
        self._closed = False
        self._known: set[int] = set()  # the rooms the last resync read
        self._deleted: set[int] = set()  # deleted here, callers not yet sent home

    def subscribe(self) -> None:
        self._ami.on_ready(self._on_ready)
        self._ami.on_down(self._down)

    @property
    def up_to_date(self) -> bool:
        """Connected, and no change is waiting to be applied."""
        return self._ami.connected and self.synced and self._reached >= self._wanted

    async def _down(self) -> None:
        self.synced = False

    async def _on_ready(self) -> None:
        try:
            await self.resync()
        except _FAILED as exc:
            log.warning("AstDB resync after (re)connecting failed (%s); trying again", exc)
            self._behind()

    async def _put(self, family: str, key: str, value: str) -> None:
        # Confirmed: AmiClient.action raises unless Asterisk answered Success.
        await self._ami.action({"Action": "DBPut", "Family": family, "Key": key, "Val": value})

    async def _del_tree(self, family: str) -> None:
        # DBDelTree on a missing family is an error reply; absent is what we want anyway.
        try:
            await self._ami.action({"Action": "DBDelTree", "Family": family})
        except PbxActionFailed as exc:  # nothing to delete
            log.debug("DBDelTree %s: %s", family, exc)

    async def _del(self, family: str, key: str) -> None:
        try:
            await self._ami.action({"Action": "DBDel", "Family": family, "Key": key})
        except PbxActionFailed as exc:
            log.debug("DBDel %s/%s: %s", family, key, exc)

    async def _kick_all(self, bridge: str) -> None:
        try:
            await self._ami.action({"Action": "ConfbridgeKick", "Conference": bridge,
                                    "Channel": "all"})  # fmt: skip
        except PbxActionFailed as exc:  # nobody in the room
            log.debug("kick of %s: %s", bridge, exc)

    async def write_room(self, room: Room) -> None:
        """Write a room's keys, the ``room`` key last: callers are admitted only once it
        exists (and the dialplan also refuses an ID whose ``pin`` key is missing), so a
        half-written room can never be joined without its PIN."""
        family = room_family(room.conference_id)
        await self._put(family, PIN_KEY, room.pin or "")
        await self._put(family, MAX_KEY, str(room.max_participants))
        await self._put(family, LANG_KEY, room.language)
        await self._put(family, MODPIN_KEY, room.moderator_pin or "")
        await self._put(family, OPTS_KEY, option_letters(room.options()))
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
        """Return once AstDB holds the change; else ``ChangeNotApplied`` (see the module)."""
        previous = change.previous
        if change.kind == "updated" and previous and _stored(previous) == _stored(change.room):
            return  # a new name only: nothing of it is in AstDB
        if change.kind == "deleted":
            self._deleted.add(change.room.id)  # its callers go home, now or at the resync
        else:
            self._known.add(change.room.id)
        await self._carry_out(
            lambda: self._apply_room(change),
            f"room {change.room.id}",
            lambda waited: room_pending(change, waited),
        )

    async def server_changed(self, server: Server | None) -> None:
        await self._carry_out(
            lambda: self.write_server(server),
            "the server",
            lambda waited: server_pending(server, waited),
        )

    async def _carry_out(
        self, apply: Callable[[], Awaitable[None]], what: str, pending: Callable[[float], str]
    ) -> None:
        """Apply one change directly; failing that, wait for a full resync begun after it.
        Both within ``confirm_within``; past that, keep trying in the background and raise."""
        waited = self.confirm_within
        behind = False
        try:
            async with asyncio.timeout(waited):
                if self._ami.connected:
                    try:
                        async with self._lock:
                            await apply()
                        return
                    except _FAILED as exc:
                        log.warning("AstDB update for %s failed (%s)", what, exc)
                want, behind = self._behind(), True
                while self._reached < want:
                    await self._progress.wait()
        except TimeoutError:
            if not behind:
                self._behind()
            log.warning("AstDB update for %s not confirmed within %s; retrying until it is",
                        what, _seconds(waited))  # fmt: skip
            raise ChangeNotApplied(pending(waited)) from None

    def _behind(self) -> int:
        """AstDB may be behind the database: catch up (in the background) with a full resync
        that begins from now; the generation that resync will reach."""
        self._wanted += 1
        if self._catching_up is None or self._catching_up.done():
            self._catching_up = asyncio.ensure_future(self._catch_up())
        return self._wanted

    def _advance(self, generation: int) -> None:
        self._reached = max(self._reached, generation)
        self._progress.set()
        self._progress = asyncio.Event()

    async def _catch_up(self) -> None:
        loop = asyncio.get_running_loop()
        failing_since: float | None = None
        while self._reached < self._wanted and not self._closed:
            if self._ami.connected:
                try:
                    await self.resync()
                except Exception as exc:  # the PBX (or the database) failed: keep trying
                    if failing_since is None:
                        failing_since = loop.time()
                        log.warning("AstDB resync failed (%s); trying again every %s",
                                    exc, _seconds(self._retry_interval),
                                    exc_info=not isinstance(exc, _FAILED))  # fmt: skip
                else:
                    if failing_since is not None:
                        log.info("AstDB up to date again after %.1f s",
                                 loop.time() - failing_since)  # fmt: skip
                    continue
            await asyncio.sleep(self._retry_interval)

    async def settle(self, timeout: float) -> bool:
        """Wait until every change is applied (``up_to_date``), starting a resync if none is
        under way; False if not within ``timeout`` seconds."""
        if not self.up_to_date and self._reached >= self._wanted:
            self._behind()
        try:
            async with asyncio.timeout(timeout):
                while not self.up_to_date:
                    await self._progress.wait()
        except TimeoutError:
            return False
        return True

    def watch(self, interval: float = WATCH_INTERVAL) -> None:
        """Also catch up with commits of other processes (the CLI), which may not have
        reached AstDB: SQLite's ``data_version`` moves with each."""
        if self._watcher is None:
            self._watcher = asyncio.ensure_future(self._watch(interval))

    async def _watch(self, interval: float) -> None:
        seen: int | None = None
        failing = False
        while not self._closed:
            try:
                version = await self._rooms.data_version()
            except Exception:  # the database is the service's to report; keep watching
                if not failing:
                    log.exception("could not read the database's version; still trying")
                failing = True
            else:
                if seen is not None and version != seen:
                    self._behind()
                seen, failing = version, False
            await asyncio.sleep(interval)

    async def close(self) -> None:
        self._closed = True
        tasks = [t for t in (self._catching_up, self._watcher) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            # Each loop ends at its next check of _closed at the latest.
            await asyncio.wait(tasks, timeout=max(self._retry_interval, WATCH_INTERVAL) + 5)

    async def _apply_room(self, change: RoomChange) -> None:
        if change.kind == "deleted":
            await self._del_tree(room_family(change.room.conference_id))
            # Callers waiting in its lobby are sent away (the dialplan admits only on
            # "admit"; a key gone is a refusal), not left to wait out the time limit.
            await self._del_tree(lobby_family(change.room.id))
            # Callers still in a deleted room hear goodbye (dialplan, on KICKED) and leave.
            await self._kick_all(bridge_name(change.room.id))
            self._deleted.discard(change.room.id)
            return
        # Write the new entry first, then drop a replaced conference ID: no gap for callers.
        await self.write_room(change.room)
        if change.previous and change.previous.conference_id != change.room.conference_id:
            await self._del_tree(room_family(change.previous.conference_id))

    # -- full resync ----------------------------------------------------------------------

    async def stored_conference_ids(self) -> set[str]:
        """The conference IDs AstDB has keys for (``DBGetTree``, no console command)."""
        entries = await self._ami.list_action(
            {"Action": "DBGetTree", "Family": ROOMS_FAMILY}, strict=True
        )
        found = set()
        for entry in entries:  # DBGetTreeResponse: Key /conference/rooms/<ID>/<key>, Val
            cid = stored_conference_id(str(entry.get("Key", "")))
            if cid is not None:
                found.add(cid)
        return found

    async def resync(self) -> None:
        """Make AstDB equal the database: write every room, then remove stale ones and
        send home the callers of rooms that no longer exist."""
        async with self._lock:
            generation = self._wanted  # the database is read after this point
            version = await self._rooms.data_version()
            rooms = await self._rooms.list_rooms()
            server = await self._rooms.get_server()
            await self.write_server(server)
            for room in rooms:
                await self.write_room(room)
            stored = await self.stored_conference_ids()
            # Compare with the rooms as they are now: one created meanwhile is not stale.
            now = await self._rooms.list_rooms()
            current = {r.conference_id for r in now}
            stale = stored - current
            for cid in stale:
                await self._del_tree(room_family(cid))
            # Callers still in a room deleted since this process last looked (a deletion
            # applied late) hear goodbye. Only those: a room this process never saw is not
            # its to end (another database, by mistake, must not hang up every call).
            ids = {r.id for r in now}
            gone = (self._known - ids) | self._deleted
            for room_id in gone:
                await self._del_tree(lobby_family(room_id))  # its lobby's callers: refused
            if gone:
                for bridge in await self._live_bridges():
                    if room_of(bridge) in gone:
                        await self._kick_all(bridge)
            self._known = ids
            self._deleted -= gone
            self.synced = True
            # Another process committed while this ran: what it wrote directly may have been
            # overwritten with what was read before. Go again at once (not at the next look).
            moved = await self._rooms.data_version() != version
        self._advance(generation)
        if moved:
            self._behind()
        log.info("AstDB resynced: %d rooms, %d stale removed", len(current), len(stale))

    async def _live_bridges(self) -> list[str]:
        listed = await self._ami.list_action({"Action": "ConfbridgeListRooms"})
        return [str(m.get("Conference", "")) for m in listed]
