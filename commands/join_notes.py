"""Join and leave notes: "Ana (…1234) joined" in the thread of a room's latest dial-in card.

Only for rooms with the ``join_notes`` option. The notes follow the tracker's RoomSnapshots:
each one is compared with the room's previous membership (by channel Uniqueid), so mute,
talking, lock or recording changes say nothing. A thread is a channel, so numbers are always
masked to their last 4 digits and names (text the caller chose) escaped; a name that is
itself a number is masked too.

Under churn a room gets at most one post per ``interval`` (30 s): the first change after a
quiet spell is posted at once, later ones wait and are told together. A post is written at
send time from the tracker's current state against what the last post told, so it always
ends on the truth: whoever is in the call now and was not in the last post "joined", whoever
was and is gone "left", and callers who came and went in between "joined and left". The last
line says how many are in the call.

Snapshots from a reconcile (no event behind them: the bot or the PBX (re)connected) only
set what is known, silently: a bot that starts during a call does not announce everyone
(unless a note is already on its way: that one tells the truth at send time, as always).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import errors
from commands.blocks.kit import and_more, count_text, inert
from commands.blocks.roster import mask_in_text, mask_number
from commands.budget import RateLimited, limited
from commands.context import Deps
from commands.notify import slack_error
from telephony.tracker import Participant, RoomSnapshot, Update

log = logging.getLogger(__name__)

INTERVAL = 30.0  # seconds between two posts in one room's thread
MAX_LINES = 15  # callers named in one post; the rest are counted
NAME_CHARS = 40

Sleep = Callable[[float], Awaitable[None]]
Members = dict[str, Participant]  # by Uniqueid


@dataclass(slots=True)
class _Room:
    """What is known of one room's calls, and what its last note told."""

    current: Members = field(default_factory=dict)  # as of the latest snapshot
    told: Members = field(default_factory=dict)  # as of the last note (or the baseline)
    visitors: Members = field(default_factory=dict)  # joined since the last note
    dirty: bool = False
    last_post: float = -math.inf
    task: asyncio.Task[None] | None = None
    waiting: bool = False  # its task sleeps until the room may post again


def caller_text(person: Participant) -> str:
    """``Ana (…1234)``: the name escaped (masked if it is a number), the number masked."""
    known = {"", "<unknown>"}
    number = "" if person.caller_id_num in known else person.caller_id_num.strip()
    name = "" if person.caller_id_name in known else person.caller_id_name.strip()
    if name == number:
        name = ""
    name = mask_in_text(name)
    if len(name) > NAME_CHARS:
        name = name[: NAME_CHARS - 1] + "…"
    masked = mask_number(number)
    if name and masked:
        return f"{inert(name)} ({masked})"
    return inert(name) or (f"A caller ({masked})" if masked else "A caller")


def note_text(joined: list[Participant], brief: list[Participant], left: list[Participant],
              count: int) -> str:  # fmt: skip
    """The note: one line per caller, then how many are in the call now."""
    lines = [f"{caller_text(p)} joined" for p in joined]
    lines += [f"{caller_text(p)} joined and left" for p in brief]
    lines += [f"{caller_text(p)} left" for p in left]
    if len(lines) > MAX_LINES:
        lines = [*lines[: MAX_LINES - 1], and_more(len(lines) - MAX_LINES + 1, "change")]
    return "\n".join([*lines, f"Now: {count_text(count, True)}."])


class JoinNotes:
    """A tracker listener that posts join/leave notes, coalesced per room."""

    def __init__(
        self,
        deps: Deps,
        client: AsyncWebClient,
        *,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """``clock`` and ``sleep`` go together (tests pass a fake pair)."""
        self._deps = deps
        self._client = client
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._rooms: dict[int, _Room] = {}
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        """Listen to the tracker; whoever is in a call already is known, not announced."""
        if self._unsubscribe is not None:
            return
        tracker = self._deps.tracker
        for room_id in tracker.counts():
            people = {p.uniqueid: p for p in tracker.participants(room_id)}
            self._rooms[room_id] = _Room(current=people, told=dict(people))
        self._unsubscribe = tracker.add_listener(self.on_update)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        tasks = [r.task for r in self._rooms.values() if r.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def settled(self) -> None:
        """Return once the changes seen so far are posted or waiting for their room's turn
        (tests on a fake clock use this before they move it)."""
        while True:
            for _ in range(3):  # let tracker listener calls already scheduled run
                await asyncio.sleep(0)
            if all(r.task is None or r.waiting for r in self._rooms.values()):
                return
            await asyncio.sleep(0.005)

    # -- what changes ---------------------------------------------------------------------

    async def on_update(self, update: Update) -> None:
        """Tracker listener: note who came and went (no await before the state is kept,
        so snapshots are taken in the order the tracker published them)."""
        if not isinstance(update, RoomSnapshot):
            return
        room = self._rooms.setdefault(update.room_id, _Room())
        now = {p.uniqueid: p for p in update.participants}
        if update.event_time is None:  # a reconcile: the truth, but no event to tell
            room.current = now
            if not room.dirty:  # (a note on its way tells the truth at send time anyway)
                room.told, room.visitors = dict(now), {}
            return
        joined = now.keys() - room.current.keys()
        changed = bool(joined) or bool(room.current.keys() - now.keys())
        room.current = now
        if not changed:
            return  # mute, talking, lock, recording: nothing to tell
        for uid in joined:
            room.visitors[uid] = now[uid]
        room.dirty = True
        if room.task is None or room.task.done():
            room.task = asyncio.create_task(self._run(update.room_id, room))

    # -- posting --------------------------------------------------------------------------

    async def _run(self, room_id: int, room: _Room) -> None:
        """Post the room's note whenever it may (one per ``interval``), until nothing is
        left to tell."""
        try:
            while room.dirty:
                wait = room.last_post + self.interval - self._clock()
                if wait > 0:
                    await self._nap(room, wait)
                room.dirty = False
                try:
                    await self._post(room_id, room)
                except RateLimited as refused:
                    log.info("Slack rate limit: join/leave notes wait %.1fs", refused.retry_after)
                    room.dirty = True
                    await self._nap(room, refused.retry_after)
                except Exception:
                    log.exception("could not post a join/leave note for room %s", room_id)
        finally:
            room.task = None

    async def _nap(self, room: _Room, seconds: float) -> None:
        room.waiting = True
        try:
            await self._sleep(seconds)
        finally:
            room.waiting = False

    async def _post(self, room_id: int, room: _Room) -> None:
        tracker = self._deps.tracker
        now = {p.uniqueid: p for p in tracker.participants(room_id)}
        told, visitors = room.told, room.visitors
        joined = [p for uid, p in now.items() if uid not in told]
        left = [p for uid, p in told.items() if uid not in now]
        brief = [p for uid, p in visitors.items() if uid not in now and uid not in told]
        room.told, room.visitors = dict(now), {}
        if not (joined or left or brief):
            return
        service = self._deps.service
        try:
            settings = await service.get_room_by_id(room_id)
        except errors.RoomNotFound:
            self._rooms.pop(room_id, None)
            return
        if not settings.join_notes:
            return
        cards = await service.cards(room_id)  # oldest first
        if not cards:
            log.debug("room %s has no dial-in card for its join/leave notes", room_id)
            return
        card = cards[-1]
        text = note_text(joined, brief, left, len(now))
        previous, room.last_post = room.last_post, self._clock()
        try:
            await limited(
                self._client.chat_postMessage(channel=card.channel, thread_ts=card.ts, text=text)
            )
        except RateLimited:  # not sent: tell it all again once Slack lets us
            room.told, room.visitors = told, {**visitors, **room.visitors}
            room.last_post = previous
            raise
        except SlackApiError as exc:  # not retried: the same post would fail the same way
            log.warning("could not post a join/leave note for room %s in %s: %s",
                        room_id, card.channel, slack_error(exc))  # fmt: skip
