"""Live Slack views: dial-in cards and Home tabs follow the participant counts.

Every change (a caller joins or leaves, a room is renamed or deleted, the PBX goes up or
down) marks the messages showing that room as stale. Each message then gets at most one
update per ``min_interval`` seconds, rendered at send time from the current state, so a
burst of changes collapses into one or two updates and the last one always shows the true
final count. An HTTP 429 pauses updates for its ``Retry-After`` and then retries.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import errors
from bot.models import Server, SlackCard
from bot.service import RoomChange
from bot.wiring import Deps
from commands import render
from telephony.tracker import PbxStatus, RoomSnapshot, Update

log = logging.getLogger(__name__)

MIN_INTERVAL = 1.0  # seconds between two updates of one message
HOME_TTL = 12 * 3600.0  # keep refreshing a Home tab this long after it was last opened

# chat.update errors meaning the message is gone for good: stop updating it.
GONE = frozenset({"message_not_found", "channel_not_found", "cant_update_message", "is_archived"})

Key = tuple[str, ...]


class _RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


@dataclass(slots=True)
class _Slot:
    """One message (or Home tab) and its pending update."""

    send: Callable[[], Awaitable[None]]
    dirty: bool = True
    last: float = float("-inf")
    task: asyncio.Task[None] | None = field(default=None)


class LiveCards:
    """A tracker listener and service observer that keeps Slack views of rooms current."""

    def __init__(
        self,
        deps: Deps,
        client: AsyncWebClient,
        *,
        min_interval: float = MIN_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._deps = deps
        self._client = client
        self.min_interval = min_interval
        self._clock = clock
        self._slots: dict[Key, _Slot] = {}
        self._homes: dict[str, float] = {}  # user ID -> when they last opened the Home tab
        self._deleted: dict[int, str] = {}  # room id -> name, for the "room deleted" card
        self._blocked_until = float("-inf")  # after a 429, Slack's Retry-After
        self._unsubscribe: Callable[[], None] | None = None
        self._running = False
        self._busy = 0  # changes being looked up (which cards show the room?)
        self._quiet = asyncio.Event()  # set while _busy == 0
        self._quiet.set()

    @property
    def client(self) -> AsyncWebClient:
        return self._client

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, *, refresh: bool = True) -> None:
        """Listen to the tracker and the service; ``refresh`` brings every remembered card
        up to date (counts may have changed while the bot was down)."""
        if self._running:
            return
        self._running = True
        self._unsubscribe = self._deps.tracker.add_listener(self.on_update)
        self._deps.service.add_observer(self)
        if refresh:
            await self.refresh_all()

    async def stop(self) -> None:
        self._running = False  # the service has no remove_observer; we just go quiet
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self._quiet.wait()  # let lookups in progress finish before the database closes
        tasks = [s.task for s in self._slots.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_idle(self) -> None:
        """Return once every change seen so far is on Slack (tests use this)."""
        while True:
            await asyncio.sleep(0)  # let listener calls already scheduled begin
            tasks = [s.task for s in self._slots.values() if s.task is not None]
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            elif self._busy:
                await self._quiet.wait()
            else:
                return

    # -- what changes ---------------------------------------------------------------------

    async def on_update(self, update: Update) -> None:
        """Tracker listener."""
        if isinstance(update, RoomSnapshot):
            await self.room_dirty(update.room_id)
        elif isinstance(update, PbxStatus):
            await self.refresh_all()  # every count switches to or from "PBX offline"

    async def room_changed(self, change: RoomChange) -> None:
        """Service observer: a rename shows on the cards, a deletion replaces them, a new
        PIN is never shown where the old one was."""
        if change.kind == "deleted":
            self._deleted[change.room.id] = change.room.name
        elif change.previous is not None and change.previous.pin != change.room.pin:
            await self._deps.service.withdraw_card_pins(change.room.id)
        await self.room_dirty(change.room.id)

    async def server_changed(self, server: Server | None) -> None:
        await self.refresh_all()  # the number to dial is on every card

    async def show_home(self, user_id: str) -> None:
        """Publish a user's Home tab now and keep it current for a while."""
        self._homes[user_id] = self._clock()
        self._schedule(("home", user_id), functools.partial(self._publish_home, user_id))

    async def room_dirty(self, room_id: int) -> None:
        await self._refresh(room_id)

    async def refresh_all(self) -> None:
        await self._refresh(None)

    async def _refresh(self, room_id: int | None) -> None:
        """Mark the cards of one room (or of all rooms, for None) and every Home tab stale."""
        if not self._running:
            return
        self._busy += 1
        self._quiet.clear()
        try:
            for card in await self._deps.service.cards(room_id):
                self._schedule_card(card)
        finally:
            self._busy -= 1
            if not self._busy:
                self._quiet.set()
        self._schedule_homes()

    # -- scheduling -----------------------------------------------------------------------

    def _schedule_card(self, card: SlackCard) -> None:
        self._schedule(("card", card.channel, card.ts), functools.partial(self._update_card, card))

    def _schedule_homes(self) -> None:
        now = self._clock()
        for user, opened in list(self._homes.items()):
            if now - opened > HOME_TTL:
                del self._homes[user]
                continue
            self._schedule(("home", user), functools.partial(self._publish_home, user))

    def _schedule(self, key: Key, send: Callable[[], Awaitable[None]]) -> None:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot(send)
        slot.send = send
        slot.dirty = True
        if slot.task is None:
            slot.task = asyncio.create_task(self._drain(key, slot))

    async def _drain(self, key: Key, slot: _Slot) -> None:
        try:
            while slot.dirty:
                wait = max(slot.last + self.min_interval, self._blocked_until) - self._clock()
                if wait > 0:
                    await asyncio.sleep(wait)
                # Cleared before sending: a change during the send makes one more round.
                slot.dirty = False
                try:
                    await slot.send()
                except _RateLimited as limited:
                    log.info(
                        "Slack rate limit: waiting %.1fs before updating %s",
                        limited.retry_after,
                        key,
                    )
                    self._blocked_until = self._clock() + limited.retry_after
                    slot.dirty = True
                    continue
                except SlackApiError as exc:
                    # Not retried: the same call would fail the same way.
                    log.warning("could not update %s: %s", key, exc.response.get("error"))
                slot.last = self._clock()
        finally:
            slot.task = None

    # -- sending --------------------------------------------------------------------------

    async def _call(self, call: Awaitable[object]) -> None:
        try:
            await call
        except SlackApiError as exc:
            if exc.response.status_code == 429:
                raise _RateLimited(_retry_after(exc)) from None
            raise

    async def _update_card(self, card: SlackCard) -> None:
        service = self._deps.service
        try:
            room = await service.get_room_by_id(card.room_id)
        except errors.RoomNotFound:
            name = self._deleted.get(card.room_id, "This room")
            await self._update_message(card, render.deleted_card(name))
            await service.forget_card(card.channel, card.ts)  # nothing more will change
            return
        tracker = self._deps.tracker
        message = render.dial_in_card(
            room,
            await service.get_server(),
            tracker.count(room.id),
            tracker.online,
            include_pin=card.include_pin,
        )
        await self._update_message(card, message)

    async def _update_message(self, card: SlackCard, message: dict[str, Any]) -> None:
        try:
            await self._call(self._client.chat_update(channel=card.channel, ts=card.ts, **message))
        except SlackApiError as exc:
            error = exc.response.get("error")
            if error not in GONE:
                raise
            log.info("dial-in card %s/%s is gone (%s); forgetting it", card.channel, card.ts, error)
            await self._deps.service.forget_card(card.channel, card.ts)

    async def _publish_home(self, user_id: str) -> None:
        service = self._deps.service
        tracker = self._deps.tracker
        view = render.home_view(
            await service.list_rooms(), tracker.counts(), tracker.online, await service.get_server()
        )
        await self._call(self._client.views_publish(user_id=user_id, view=view))


def _retry_after(exc: SlackApiError) -> float:
    headers = exc.response.headers or {}
    raw = headers.get("Retry-After") or headers.get("retry-after") or "1"
    try:
        return max(float(raw), 0.0)
    except (TypeError, ValueError):
        return 1.0
