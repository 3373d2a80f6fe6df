"""Follows the lockouts the dialplan sets: every one goes to the audit log, each room alert
to the listeners (the admins' channel), and what happened while the bot was away is caught
up on every (re)connect.

Events in: ``UserEvent: ConferenceLockout`` (:class:`telephony.lockouts.LockoutEvent`).
Out: audit rows (actor ``pbx``) and :class:`RoomAlert` to listeners. The lockouts themselves
need none of this: the PBX enforces them on its own (:mod:`telephony.lockouts`).

A lockout or alert is handled once: the bot writes its ``since`` (or ``alerted``) value to the
entry's ``reported`` key, and a catch-up handles only entries whose ``reported`` differs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bot import errors
from bot.models import Room
from telephony.ami import AmiClient
from telephony.background import Background
from telephony.errors import PbxActionFailed, PbxUnavailable
from telephony.lockouts import (
    Lockout,
    LockoutEvent,
    LockoutStore,
    LockoutTree,
    RoomWatch,
    Scope,
    Stage,
)
from telephony.naming import ROOM_SCOPE, lockout_family

log = logging.getLogger(__name__)

PBX_ACTOR = "pbx"  # who the audit log says set a lockout
PRUNE_EVERY = 600.0  # seconds between removals of forgotten counters


class AuditLog(Protocol):
    """Where lockouts are recorded (``ConferenceService.record``)."""

    async def record(self, actor: str, action: str, target: str, summary: str) -> None: ...


class RoomLookup(Protocol):
    """Room names for the audit log and the alert (``ConferenceService``)."""

    async def get_room_by_id(self, room_id: int) -> Room: ...


@dataclass(frozen=True, slots=True)
class RoomAlert:
    """A room got ``count`` wrong PINs from anyone within ``window`` seconds."""

    room_id: int
    room: Room | None  # None: the room is gone
    count: int | None
    window: int | None
    callers: tuple[str, ...]  # the latest callers' numbers, newest first
    at: int  # when the threshold was reached (epoch seconds)
    late: bool = False  # found at a catch-up: it happened while the bot was away

    @property
    def conference_id(self) -> str:
        return self.room.conference_id if self.room is not None else ""


AlertListener = Callable[[RoomAlert], Awaitable[None]]


def minutes(seconds: int | None) -> str:
    """``15 min``, ``1 h``, ``45 s``: a window or lockout length in an audit line."""
    if seconds is None:
        return "a while"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def room_label(room: Room | None, room_id: int | None) -> str:
    if room is not None:
        return f'room "{room.name}" (ID {room.conference_id})'
    return f"room #{room_id} (deleted)" if room_id is not None else "any room"


class LockoutMonitor:
    """Audits every lockout and passes room alerts on; see the module docstring."""

    def __init__(
        self,
        store: LockoutStore,
        audit: AuditLog,
        rooms: RoomLookup,
        *,
        clock: Callable[[], float] = time.time,
        prune_every: float = PRUNE_EVERY,
    ) -> None:
        self.store = store
        self._audit = audit
        self._rooms = rooms
        self._clock = clock
        self._prune_every = prune_every
        self._listeners: list[AlertListener] = []
        self._handled: set[tuple[str, int]] = set()  # (family, since) audited by this bot
        self._background = Background(log, "lockout handler failed")
        self._housekeeping: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    # -- wiring ---------------------------------------------------------------------------

    def subscribe(self, ami: AmiClient) -> None:
        """Every AMI event the monitor handles, in one place."""
        ami.register_event("UserEvent", self._on_user_event)
        ami.on_ready(self._reconnected)

    def add_listener(self, listener: AlertListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def wait_idle(self) -> None:
        """Return once every event seen so far is handled (tests)."""
        while self._background.tasks:
            await asyncio.gather(*list(self._background.tasks), return_exceptions=True)

    async def close(self) -> None:
        tasks = list(self._background.tasks) + ([self._housekeeping] if self._housekeeping else [])
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- events ---------------------------------------------------------------------------

    def _on_user_event(self, msg: Mapping[str, Any]) -> None:
        event = LockoutEvent.parse(msg)
        if event is not None:
            self._background.spawn(self.handle(event))

    async def handle(self, event: LockoutEvent) -> None:
        """One ``ConferenceLockout`` event."""
        if event.stage is Stage.REFUSED:
            what = {Scope.CALLS: "busy: too many calls in the IVR at once",
                    Scope.ROOM: "the room's PIN entry is locked"}.get(
                event.scope, f"locked out ({event.scope.value})")  # fmt: skip
            log.info("call from %s refused, %s", event.who, what)
            return
        family, since = event.family, event.since
        if family is None or since is None:
            return
        async with self._lock:
            if (family, since) in self._handled:
                return
            self._handled.add((family, since))
        room = await self._room(event.room_id)
        if event.stage is Stage.ALERT:
            await self._alert(RoomAlert(event.room_id or 0, room, event.count, event.window,
                                        event.callers, since))  # fmt: skip
        else:
            await self._audit_lockout(event.scope, event.who, event.address, room,
                                      event.room_id, event.count, event.window,
                                      event.until, since)  # fmt: skip
        await self._mark(family, since)

    async def _audit_lockout(
        self,
        scope: Scope,
        who: str,
        address: str,
        room: Room | None,
        room_id: int | None,
        count: int | None,
        window: int | None,
        until: int | None,
        since: int,
        *,
        late: bool = False,
    ) -> None:
        length = minutes(until - since) if until is not None else "a while"
        source = f" from {address}" if address else ""
        if scope is Scope.PIN:
            action, target = "lockout.pin", room_label(room, room_id)
            what = "wrong PINs"
            summary = f"Caller {who}{source} locked out of {target} for {length}"
        else:
            action, target = "lockout.id", f"caller {who}"
            what = "unknown conference IDs"
            summary = f"Caller {who}{source} locked out of every conference ID for {length}"
        if count is not None:
            summary += f" after {count} {what} within {minutes(window)}"
        summary += " (while the bot was away)" if late else ""
        log.warning("%s", summary)
        await self._audit.record(PBX_ACTOR, action, target, summary)

    async def _alert(self, alert: RoomAlert) -> None:
        callers = ", ".join(alert.callers) or "unknown"
        summary = (
            f"{alert.count or 'Many'} wrong PINs for {room_label(alert.room, alert.room_id)} "
            f"within {minutes(alert.window)}; latest callers: {callers}"
            + (" (while the bot was away)" if alert.late else "")
        )
        log.warning("%s", summary)
        await self._audit.record(PBX_ACTOR, "lockout.room_alert",
                                 room_label(alert.room, alert.room_id), summary)  # fmt: skip
        for listener in list(self._listeners):
            try:
                await listener(alert)
            except Exception:
                log.exception("a room alert listener failed")

    async def _mark(self, family: str, value: int) -> None:
        try:
            await self.store.mark_reported(family, value)
        except (PbxUnavailable, PbxActionFailed) as exc:
            log.warning("could not mark %s as reported (%s); the next catch-up will", family, exc)

    async def _room(self, room_id: int | None) -> Room | None:
        if room_id is None:
            return None
        try:
            return await self._rooms.get_room_by_id(room_id)
        except errors.RoomNotFound:
            return None

    # -- catching up ----------------------------------------------------------------------

    async def _reconnected(self) -> None:
        await self.catch_up()
        if self._housekeeping is None or self._housekeeping.done():
            self._housekeeping = asyncio.ensure_future(self._prune_now_and_then())

    async def catch_up(self) -> LockoutTree:
        """Audit the lockouts and post the alerts that began while the bot was away, then
        forget old counters. Done on every (re)connect."""
        tree = await self.store.read()
        for lockout in tree.callers:
            if lockout.since is not None and lockout.since != lockout.reported:
                await self._late_lockout(lockout)
        for watch in tree.rooms:
            if watch.alerted is not None and watch.alerted != watch.reported:
                await self._late_alert(watch)
        pruned = await self.store.prune(tree)
        if pruned:
            log.info("forgot %d old lockout counters", pruned)
        return tree

    async def _late_lockout(self, lockout: Lockout) -> None:
        assert lockout.since is not None
        async with self._lock:
            if (lockout.family, lockout.since) in self._handled:
                return
            self._handled.add((lockout.family, lockout.since))
        room = await self._room(lockout.room_id)
        await self._audit_lockout(lockout.scope, lockout.who, "", room, lockout.room_id,
                                  None, None, lockout.until, lockout.since,
                                  late=True)  # fmt: skip
        await self._mark(lockout.family, lockout.since)

    async def _late_alert(self, watch: RoomWatch) -> None:
        assert watch.alerted is not None
        family = lockout_family(ROOM_SCOPE, room_id=watch.room_id)
        async with self._lock:
            if (family, watch.alerted) in self._handled:
                return
            self._handled.add((family, watch.alerted))
        room = await self._room(watch.room_id)
        await self._alert(RoomAlert(watch.room_id, room, None, None, watch.callers,
                                    watch.alerted, late=True))  # fmt: skip
        await self._mark(family, watch.alerted)

    async def _prune_now_and_then(self) -> None:
        while True:
            await asyncio.sleep(self._prune_every)
            try:
                await self.store.prune()
            except (PbxUnavailable, PbxActionFailed) as exc:
                log.debug("lockout prune skipped: %s", exc)

    # -- tasks ----------------------------------------------------------------------------
