"""Lockouts as the bot sees them. The dialplan keeps the counters in AstDB and enforces the
lockouts itself (``extensions.conf``, "Lockouts"), so they hold while the bot is down; the
bot reads them, clears them and locks a room's PIN entry for an admin, over AMI (``DBGetTree``,
``DBPut``, ``DBDel``, ``DBDelTree``: never a console command).

Raw AMI messages become typed values here, at the edge: :class:`LockoutEvent` (a
``ConferenceLockout`` UserEvent), :class:`Lockout` (a caller locked out) and
:class:`RoomWatch` (a room's count of wrong PINs, its alert, an admin's lock). Every text in
them was filtered by the dialplan (caller numbers ``[0-9A-Za-z+]``, endpoint names), and is
filtered again here; the key layout is :mod:`telephony.naming`'s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from telephony.ami import AmiClient
from telephony.errors import PbxActionFailed
from telephony.naming import (
    ALERTED_KEY,
    CALLERS_KEY,
    FAILS_KEY,
    ID_SCOPE,
    LOCKOUTS_FAMILY,
    PIN_SCOPE,
    REPORTED_KEY,
    ROOM_SCOPE,
    SINCE_KEY,
    UNTIL_KEY,
    caller_key,
    caller_number,
    endpoint_name,
    lockout_family,
    split_caller_key,
)

log = logging.getLogger(__name__)

Clock = Callable[[], float]


class Stage(StrEnum):
    LOCKED = "locked"  # a lockout begins
    REFUSED = "refused"  # a call turned away by one (or busy: too many calls in the IVR)
    ALERT = "alert"  # a room reached its threshold of wrong PINs: the admins hear of it


class Scope(StrEnum):
    PIN = PIN_SCOPE  # one caller, one room
    ID = ID_SCOPE  # one caller, every conference ID
    ROOM = ROOM_SCOPE  # every caller of one room
    CALLS = "calls"  # one caller's calls in the IVR at once


def _int(value: Any) -> int | None:
    text = str(value if value is not None else "").strip()
    return int(text) if text.isdigit() and len(text) <= 12 else None


def _digits(value: Any) -> str:
    return "".join(c for c in str(value or "") if c.isdigit())[:10]


def _address(value: Any) -> str:
    return "".join(c for c in str(value or "") if c in "0123456789abcdefABCDEF.:")[:45]


def caller_text(endpoint: str, number: str) -> str:
    """How people read a caller: ``alice`` for a phone calling as itself,
    ``+15551234567 (trunk)``, ``no caller ID (trunk)``."""
    if number and number == endpoint:
        return number
    return f"{number or 'no caller ID'} ({endpoint or 'unknown line'})"


@dataclass(frozen=True, slots=True)
class LockoutEvent:
    """AMI ``UserEvent: ConferenceLockout``."""

    stage: Stage
    scope: Scope
    room_id: int | None
    conference_id: str
    caller: str  # the caller ID number
    endpoint: str  # the phone account or trunk it came in on
    address: str  # where the call came from (reported, not part of the key)
    count: int | None = None  # the threshold reached (or the IVR cap)
    window: int | None = None  # seconds
    since: int | None = None  # epoch seconds
    until: int | None = None
    callers: tuple[str, ...] = ()  # scope room: the latest callers' numbers

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> LockoutEvent | None:
        """None for any other event, and for one whose stage or scope is unknown."""
        if str(msg.get("UserEvent", "")) != "ConferenceLockout":
            return None
        try:
            stage, scope = Stage(str(msg.get("Stage", ""))), Scope(str(msg.get("Scope", "")))
        except ValueError:
            return None
        callers = str(msg.get("Callers", "") or "").split("-")
        return cls(
            stage=stage,
            scope=scope,
            room_id=_int(msg.get("Room")),
            conference_id=_digits(msg.get("ConferenceID")),
            caller=caller_number(str(msg.get("Caller", "") or "")),
            endpoint=endpoint_name(str(msg.get("Endpoint", "") or "")),
            address=_address(msg.get("Address")),
            count=_int(msg.get("Count")),
            window=_int(msg.get("Window")),
            since=_int(msg.get("Since")),
            until=_int(msg.get("Until")),
            callers=tuple(c for c in map(caller_number, callers) if c)[:10],
        )

    @property
    def caller_key(self) -> str:
        return caller_key(self.endpoint, self.caller)

    @property
    def who(self) -> str:
        return caller_text(self.endpoint, self.caller)

    @property
    def family(self) -> str | None:
        """The AstDB family the event is about (None for ``calls``)."""
        if self.scope is Scope.CALLS or (self.scope is not Scope.ID and self.room_id is None):
            return None
        if self.scope is Scope.ROOM:
            return lockout_family(ROOM_SCOPE, room_id=self.room_id)
        return lockout_family(self.scope.value, room_id=self.room_id, caller=self.caller_key)


@dataclass(frozen=True, slots=True)
class Lockout:
    """A caller's counter, for one room (``pin``) or for every conference ID (``id``); a
    lockout when ``until`` is set."""

    scope: Scope
    caller_key: str
    room_id: int | None
    fails: tuple[int, ...] = ()
    since: int | None = None
    until: int | None = None
    reported: int | None = None

    @property
    def family(self) -> str:
        return lockout_family(self.scope.value, room_id=self.room_id, caller=self.caller_key)

    @property
    def endpoint(self) -> str:
        return (split_caller_key(self.caller_key) or ("", ""))[0]

    @property
    def caller(self) -> str:
        return (split_caller_key(self.caller_key) or ("", ""))[1]

    @property
    def who(self) -> str:
        return caller_text(self.endpoint, self.caller)

    def active(self, now: float) -> bool:
        return self.until is not None and self.until > now

    def matches(self, caller: str) -> bool:
        """Whether ``caller`` (a caller ID number, an endpoint, or ``endpoint~number``)
        names this caller."""
        return caller in (self.caller_key, self.caller, self.endpoint)


@dataclass(frozen=True, slots=True)
class RoomWatch:
    """One room: its recent wrong PINs from anyone, the admins' alert, an admin's lock."""

    room_id: int
    fails: tuple[int, ...] = ()
    callers: tuple[str, ...] = ()
    alerted: int | None = None
    reported: int | None = None
    locked_until: int | None = None

    @property
    def family(self) -> str:
        return lockout_family(ROOM_SCOPE, room_id=self.room_id)

    def locked(self, now: float) -> bool:
        return self.locked_until is not None and self.locked_until > now


@dataclass(frozen=True)
class LockoutTree:
    """Everything under ``conference/lockouts``, expired entries included."""

    callers: list[Lockout] = field(default_factory=list)
    rooms: list[RoomWatch] = field(default_factory=list)
    other: list[str] = field(default_factory=list)  # families this version does not know

    def active(self, now: float) -> list[Lockout]:
        return [c for c in self.callers if c.active(now)]

    def locked_rooms(self, now: float) -> list[RoomWatch]:
        return [r for r in self.rooms if r.locked(now)]


def _times(value: str) -> tuple[int, ...]:
    return tuple(t for t in (_int(p) for p in value.split("-")) if t is not None)


def parse_tree(entries: Mapping[str, str]) -> LockoutTree:
    """The tree from ``DBGetTree`` answers: AstDB key (``/conference/lockouts/...``) -> value."""
    families: dict[str, dict[str, str]] = {}
    for key, value in entries.items():
        family, _, name = key.strip("/").rpartition("/")
        families.setdefault(family, {})[name] = value
    tree = LockoutTree()
    prefix = f"{LOCKOUTS_FAMILY}/"
    for family, values in sorted(families.items()):
        parts = family[len(prefix) :].split("/") if family.startswith(prefix) else []
        kind = parts[0] if parts else ""
        fails, since = _times(values.get(FAILS_KEY, "")), _int(values.get(SINCE_KEY))
        until, reported = _int(values.get(UNTIL_KEY)), _int(values.get(REPORTED_KEY))
        room = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        caller = parts[-1] if parts and split_caller_key(parts[-1]) is not None else None
        if kind == PIN_SCOPE and len(parts) == 3 and room is not None and caller is not None:
            tree.callers.append(Lockout(Scope.PIN, caller, room, fails, since, until, reported))
        elif kind == ID_SCOPE and len(parts) == 2 and caller is not None:
            tree.callers.append(Lockout(Scope.ID, caller, None, fails, since, until, reported))
        elif kind == ROOM_SCOPE and len(parts) == 2 and room is not None:
            callers = [caller_number(c) for c in values.get(CALLERS_KEY, "").split("-")]
            alerted = _int(values.get(ALERTED_KEY))
            watch = RoomWatch(room, fails, tuple(c for c in callers if c), alerted, reported, until)
            tree.rooms.append(watch)
        else:
            tree.other.append(family)
    return tree


@dataclass(frozen=True)
class Cleared:
    """What a clear removed: the lockouts then in force, and the rooms whose PIN entry an
    admin had locked; ``entries`` counts every family removed (counters too)."""

    lockouts: list[Lockout]
    rooms: list[RoomWatch]
    entries: int


class LockoutStore:
    """Reads and changes the lockout entries in AstDB, over ``ami``.

    ``room_lock``: seconds :meth:`lock_room` locks a room's PIN entry for.
    ``forget_after``: counters whose latest failure is older than this count for nothing
    any more, and :meth:`prune` removes them.
    """

    def __init__(
        self, ami: AmiClient, *, room_lock: float, forget_after: float, clock: Clock = time.time
    ) -> None:
        self._ami = ami
        self.room_lock = room_lock
        self.forget_after = forget_after
        self._clock = clock

    def now(self) -> float:
        return self._clock()

    async def read(self) -> LockoutTree:
        # strict: nothing to list is a Success; an Error is a refusal, not "no lockouts".
        listing = await self._ami.list_action(
            {"Action": "DBGetTree", "Family": LOCKOUTS_FAMILY}, strict=True
        )
        entries = {
            str(m.get("Key", "")): str(m.get("Val", "") or "")
            for m in listing
            if str(m.get("Event", "")) == "DBGetTreeResponse"
        }
        return parse_tree(entries)

    async def _del_tree(self, family: str) -> None:
        try:
            await self._ami.action({"Action": "DBDelTree", "Family": family})
        except PbxActionFailed as exc:  # gone already: what we want
            log.debug("DBDelTree %s: %s", family, exc)

    async def clear(self, *, room_id: int | None = None, caller: str | None = None) -> Cleared:
        """Clear the lockouts and counters of ``caller`` (a caller ID number, an endpoint
        or ``endpoint~number``) and/or of the room ``room_id``: with both, that caller's
        in that room; with the room alone, every caller's there and the room's own
        (an admin's lock of its PIN entry too)."""
        if room_id is None and caller is None:
            raise ValueError("clear needs a room, a caller or both (clear_all clears everything)")
        now, tree = self.now(), await self.read()
        lockouts = [
            c
            for c in tree.callers
            if (caller is None or c.matches(caller)) and (room_id is None or c.room_id == room_id)
        ]
        rooms = [r for r in tree.rooms if caller is None and r.room_id == room_id]
        for family in [c.family for c in lockouts] + [r.family for r in rooms]:
            await self._del_tree(family)
        return Cleared(
            [c for c in lockouts if c.active(now)],
            [r for r in rooms if r.locked(now)],
            len(lockouts) + len(rooms),
        )

    async def clear_all(self) -> Cleared:
        now, tree = self.now(), await self.read()
        await self._del_tree(LOCKOUTS_FAMILY)
        entries = len(tree.callers) + len(tree.rooms) + len(tree.other)
        return Cleared(tree.active(now), tree.locked_rooms(now), entries)

    async def lock_room(self, room_id: int) -> int:
        """Refuse every caller at the room's PIN entry for ``room_lock`` seconds; returns
        when the lock ends (epoch seconds)."""
        until = int(self.now() + self.room_lock)
        family = lockout_family(ROOM_SCOPE, room_id=room_id)
        await self._ami.action({"Action": "DBPut", "Family": family, "Key": UNTIL_KEY,
                                "Val": str(until)})  # fmt: skip
        return until

    async def unlock_room(self, room_id: int) -> bool:
        """Lift an admin's lock of the room's PIN entry; False if none was in force."""
        now = self.now()
        family = lockout_family(ROOM_SCOPE, room_id=room_id)
        watch = next((r for r in (await self.read()).rooms if r.room_id == room_id), None)
        if watch is None or watch.locked_until is None:
            return False
        try:
            await self._ami.action({"Action": "DBDel", "Family": family, "Key": UNTIL_KEY})
        except PbxActionFailed as exc:
            log.debug("DBDel %s/%s: %s", family, UNTIL_KEY, exc)
        return watch.locked(now)

    async def mark_reported(self, family: str, value: int) -> None:
        """Note that the bot has audited (or posted) the lockout or alert at ``value``."""
        await self._ami.action({"Action": "DBPut", "Family": family, "Key": REPORTED_KEY,
                                "Val": str(value)})  # fmt: skip

    async def prune(self, tree: LockoutTree | None = None) -> int:
        """Remove counters nobody needs any more (no lockout in force, nothing pending for
        the bot, every failure older than ``forget_after``): a trunk caller who changes
        caller ID at every call leaves one behind each time. Returns how many."""
        now = self.now()
        tree = tree if tree is not None else await self.read()
        horizon = now - self.forget_after

        def stale(fails: tuple[int, ...], until: int | None, pending: bool) -> bool:
            return (
                not pending and (until is None or until <= now) and all(t < horizon for t in fails)
            )

        gone = [
            c.family
            for c in tree.callers
            if stale(c.fails, c.until, c.since is not None and c.since != c.reported)
        ]
        gone += [
            r.family
            for r in tree.rooms
            if stale(r.fails, r.locked_until, r.alerted is not None and r.alerted != r.reported)
            and (r.alerted is None or r.alerted < horizon)
        ]
        for family in gone:
            await self._del_tree(family)
        return len(gone)
