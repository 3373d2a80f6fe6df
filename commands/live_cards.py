"""Live Slack views: dial-in cards and Home tabs follow the rooms and their participant counts.

Every change (a caller joins or leaves, a room is renamed, re-PINned or deleted, the PBX goes
up or down) marks the messages showing that room as stale, also when another process (the
CLI) made the change: the database is polled for other connections' commits. Stale messages
wait in a fair queue (rooms take turns) for the Slack budget of their Web API method
(``commands.budget``: ``chat.update`` gets about 50 calls a minute for the whole app). A
message is updated at most once per ``min_interval`` (longer while many share the budget)
and is rendered at send time from the current state, so any number of changes in between
collapse into one update and the last one always shows the true final count. An HTTP 429
pauses its method for ``Retry-After``.

A room keeps at most ``max_live_cards`` live cards: when a newer one is posted, the oldest
gets a last update saying it no longer updates, and is forgotten. The same changes keep
``rooms`` current: the rooms and the server as the views and ``/conference list`` show them.

Open rosters ("Show participants" modals, ``commands.roster``) follow their room the same
way, with ``views.update`` on its own budget: marked stale only when what they show changed
(a caller talking changes a roster but no card), forgotten when closed (``view_closed``),
when Slack no longer has the view, or ``ROSTER_TTL`` after the viewer last used it (a last
update then says it stopped updating).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Collection, Hashable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.changes import RoomChange
from bot.errors import RoomNotFound
from bot.models import Room, Server, SlackCard
from commands.blocks.dial_in import deleted_card, dial_in_card, retired_card
from commands.blocks.home import home_view
from commands.blocks.roster import STOPPED, roster_gone_view
from commands.budget import FairQueue, RateLimited, SlackBudget, limited
from commands.context import Deps
from commands.room_list import RoomList
from commands.roster import RosterWatch, call_state, render_roster, room_key, roster_mark
from telephony.tracker import PbxStatus, RoomSnapshot, Update

log = logging.getLogger(__name__)

MIN_INTERVAL = 1.0  # seconds between two updates of one message
HOME_TTL = 12 * 3600.0  # keep refreshing a Home tab this long after it was last opened
MAX_LIVE_CARDS = 5  # live dial-in cards per room; older ones are retired
WATCH_INTERVAL = 0.5  # seconds between two looks for changes committed by other processes

ROSTER_TTL = 30 * 60.0  # stop updating an open roster this long after it was last used
MAX_ROSTERS = 50  # open rosters followed at once; past that the least recently used stops

CARD = "chat.update"
HOME = "views.publish"
ROSTER = "views.update"

# chat.update errors meaning the message is gone for good: stop updating it.
GONE = frozenset({"message_not_found", "channel_not_found", "cant_update_message", "is_archived"})
# views.update errors meaning the modal is closed or gone.
VIEW_GONE = frozenset({"not_found", "view_not_found"})

Key = tuple[str, ...]
Sleep = Callable[[float], Awaitable[None]]
Mark = tuple[object, ...]


@dataclass(slots=True, eq=False)
class _Slot:
    """One message (or Home tab) and its pending update."""

    method: str  # the Web API method, hence the budget, its updates use
    group: Hashable  # whom it takes turns with: a card's room; a Home tab is on its own
    send: Callable[[Key, _Slot], Awaitable[None]]
    dirty: bool = True
    retire: bool = False  # a card's last update (with a note) before it is forgotten
    closed: bool = False  # nothing more to send: the slot goes once the send ends
    last: float = -math.inf  # when its last update was sent
    touched: float = -math.inf  # when it was last marked stale
    task: asyncio.Task[None] | None = field(default=None)


def _room_mark(room: Room) -> Mark:
    """What a card shows of a room, cheap to compare; the PIN only as a digest."""
    pin = hashlib.sha256(room.pin.encode()).hexdigest()[:16] if room.pin else None
    return (room.name, room.conference_id, pin, room.max_participants, room.language,
            room.updated_at)  # fmt: skip


def _server_mark(server: Server | None) -> Mark | None:
    return None if server is None else (server.extension, server.phone_number, server.updated_at)


class LiveCards:
    """A tracker listener and service observer that keeps Slack views of rooms current."""

    def __init__(
        self,
        deps: Deps,
        client: AsyncWebClient,
        *,
        min_interval: float = MIN_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        budget: SlackBudget | None = None,
        max_live_cards: int = MAX_LIVE_CARDS,
        watch_interval: float = WATCH_INTERVAL,
    ) -> None:
        """``clock`` and ``sleep`` go together (tests pass a fake pair); ``budget`` defaults
        to Slack's published tiers on ``clock``."""
        self._deps = deps
        self._client = client
        self.rooms = RoomList(deps.service, deps.tracker)
        self.min_interval = min_interval
        self.max_live_cards = max_live_cards
        self.watch_interval = watch_interval
        self._clock = clock
        self._sleep = sleep
        self._budget = budget or SlackBudget(clock=clock)
        self._slots: dict[Key, _Slot] = {}
        self._queues: dict[str, FairQueue[Key]] = {m: FairQueue() for m in (CARD, HOME, ROSTER)}
        self._wakes: dict[str, asyncio.Event] = {m: asyncio.Event() for m in (CARD, HOME, ROSTER)}
        self._rosters: dict[str, RosterWatch] = {}  # view ID -> an open roster
        self._calls: dict[int, Mark] = {}  # room id -> count, locked, recording as last seen
        self._dispatchers: dict[str, asyncio.Task[None]] = {}
        self._homes: dict[str, float] = {}  # user ID -> when they last opened the Home tab
        self._deleted: dict[int, str] = {}  # room id -> name, for the "room deleted" card
        self._marks: dict[int, Mark] = {}  # room id -> what its cards show, to spot changes
        self._server: Mark | None = None
        self._version = 0  # the database's data_version when the marks were taken
        self._watcher: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._running = False
        self._stopped = False
        self._busy = 0  # changes being looked up (which cards show the room?)
        self._quiet = asyncio.Event()  # set while _busy == 0
        self._quiet.set()

    @property
    def client(self) -> AsyncWebClient:
        return self._client

    @property
    def budget(self) -> SlackBudget:
        """The Web API budget every live message draws on (cards, Home tabs, rosters, and
        the lobby's messages through ``SlackBudget.spend``)."""
        return self._budget

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, *, refresh: bool = True) -> None:
        """Listen to the tracker, the service and the database; ``refresh`` brings every
        remembered card up to date (counts may have changed while the bot was down)."""
        if self._running:
            return
        self._running = True
        self._stopped = False
        self._unsubscribe = self._deps.tracker.add_listener(self.on_update)
        self._deps.service.add_observer(self)
        self._deps.service.add_card_listener(self.card_remembered)
        self._version = await self._deps.service.data_version()
        self.rooms.follow(True)  # from now on every change reaches it
        await self._take_marks()
        self._watcher = asyncio.create_task(self._watch())
        if refresh:
            await self.refresh_all()

    async def stop(self) -> None:
        self._running = False  # the service has no remove_observer; we just go quiet
        self._stopped = True
        self.rooms.follow(False)
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        tasks = [self._watcher] if self._watcher is not None else []
        self._watcher = None
        await self._quiet.wait()  # let lookups in progress finish before the database closes
        tasks += self._dispatchers.values()
        tasks += [s.task for s in self._slots.values() if s.task is not None]
        self._dispatchers.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_idle(self) -> None:
        """Return once every change seen so far is on Slack (tests use this)."""
        while True:
            await asyncio.sleep(0)  # let listener calls already scheduled begin
            if self._busy:
                await self._quiet.wait()
            elif tasks := [s.task for s in self._slots.values() if s.task is not None]:
                await asyncio.gather(*tasks, return_exceptions=True)
            elif not self._stopped and any(s.dirty for s in self._slots.values()):
                await asyncio.sleep(0.005)  # waiting for the budget or min_interval
            else:
                return

    async def wait_sent(self) -> None:
        """Return once the changes seen so far are looked up and the updates being sent
        right now are answered (tests with a fake clock use this)."""
        await asyncio.sleep(0)
        await self._quiet.wait()
        tasks = [s.task for s in self._slots.values() if s.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- what changes ---------------------------------------------------------------------

    async def on_update(self, update: Update) -> None:
        """Tracker listener."""
        if isinstance(update, RoomSnapshot):
            shown = (update.count, update.locked, update.recording)
            if self._calls.get(update.room_id) == shown:  # talking, a mute: rosters only
                self._schedule_rosters([update.room_id])
                return
            self._calls[update.room_id] = shown
            await self.room_dirty(update.room_id)
        elif isinstance(update, PbxStatus):
            await self.refresh_all()  # every count switches to or from "PBX offline"

    async def room_changed(self, change: RoomChange) -> None:
        """Service observer: a rename shows on the cards, a deletion replaces them. (A new
        PIN never shows where the old one was: the service withdrew it from those cards in
        the transaction that changed it.)"""
        self.rooms.forget()
        if change.kind == "deleted":
            self._deleted[change.room.id] = change.room.name
            self._marks.pop(change.room.id, None)
        else:
            self._marks[change.room.id] = _room_mark(change.room)
        await self.room_dirty(change.room.id)

    async def server_changed(self, server: Server | None) -> None:
        self.rooms.forget()
        self._server = _server_mark(server)
        await self.refresh_all()  # the number to dial is on every card

    async def card_remembered(self, card: SlackCard) -> None:
        """Service card listener: past the cap, the room's oldest cards are retired."""
        await self._refresh([card.room_id], retire_only=True)

    async def show_home(self, user_id: str) -> None:
        """Publish a user's Home tab now and keep it current for a while."""
        self._homes[user_id] = self._clock()
        self._mark(("home", user_id), HOME, ("home", user_id), self._send_home)

    async def room_dirty(self, room_id: int) -> None:
        await self._refresh([room_id])

    async def refresh_all(self) -> None:
        await self._refresh(None)

    async def _refresh(self, rooms: Collection[int] | None, *, retire_only: bool = False) -> None:
        """Mark the cards of some rooms (None: all) and every Home tab stale. A room's cards
        beyond the cap, oldest first, get their last update."""
        if not self._running:
            return
        if not retire_only:
            self._schedule_rosters(rooms)
        self._busy += 1
        self._quiet.clear()
        try:
            if rooms is not None and len(rooms) == 1:
                cards = await self._deps.service.cards(next(iter(rooms)))
            else:
                cards = await self._deps.service.cards()
                cards = [c for c in cards if rooms is None or c.room_id in rooms]
        finally:
            self._busy -= 1
            if not self._busy:
                self._quiet.set()
        by_room: dict[int, list[SlackCard]] = {}
        for card in cards:  # oldest first
            by_room.setdefault(card.room_id, []).append(card)
        for shown in by_room.values():
            extra = max(len(shown) - self.max_live_cards, 0)
            for card in shown[:extra]:
                self._mark_card(card).retire = True
            if not retire_only:
                for card in shown[extra:]:
                    self._mark_card(card)
        if not retire_only:
            self._schedule_homes()

    # -- changes made by other processes --------------------------------------------------

    async def _watch(self) -> None:
        """Another process (the CLI) writes to the same database: SQLite's data_version
        changes when it commits; then a snapshot of the rooms says which cards are stale."""
        while True:
            await self._sleep(self.watch_interval)
            try:
                version = await self._deps.service.data_version()
                if version != self._version:
                    self._version = version
                    self.rooms.forget()
                    await self._catch_up()
            except Exception:
                log.exception("could not look for changes made by other processes")

    async def _take_marks(self) -> dict[int, Mark]:
        """Take new marks; return the previous ones."""
        service = self._deps.service
        before = self._marks
        self._marks = {r.id: _room_mark(r) for r in await service.list_rooms()}
        self._server = _server_mark(await service.get_server())
        return before

    async def _catch_up(self) -> None:
        server = self._server
        before = await self._take_marks()
        for room_id in before.keys() - self._marks.keys():
            self._deleted[room_id] = str(before[room_id][0])
        changed = {
            r for r in before.keys() | self._marks.keys() if before.get(r) != self._marks.get(r)
        }
        if server != self._server:
            await self.refresh_all()
        elif changed:
            log.info("rooms changed by another process: %s", sorted(changed))
            await self._refresh(changed)

    # -- scheduling -----------------------------------------------------------------------

    def _mark_card(self, card: SlackCard) -> _Slot:
        return self._mark(("card", card.channel, card.ts), CARD, card.room_id, self._send_card)

    def _schedule_homes(self) -> None:
        now = self._clock()
        for user, opened in list(self._homes.items()):
            if now - opened > HOME_TTL:
                del self._homes[user]
                continue
            self._mark(("home", user), HOME, ("home", user), self._send_home)

    def _mark(
        self, key: Key, method: str, group: Hashable, send: Callable[[Key, _Slot], Awaitable[None]]
    ) -> _Slot:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot(method, group, send)
        slot.dirty = True
        slot.touched = self._clock()
        self._queues[method].add(group, key)
        self._kick(method)
        return slot

    def _kick(self, method: str) -> None:
        self._wakes[method].set()
        task = self._dispatchers.get(method)
        if not self._stopped and (task is None or task.done()):
            self._dispatchers[method] = asyncio.create_task(self._dispatch(method))

    async def _dispatch(self, method: str) -> None:
        """Send the method's stale messages, one token each, rooms taking turns."""
        queue, wake, bucket = self._queues[method], self._wakes[method], self._budget.bucket(method)
        while True:
            wake.clear()
            wait: float | None = bucket.delay() if queue else None
            if wait == 0:
                now = self._clock()
                interval = self._interval(method, now)
                key = queue.pop(functools.partial(self._ready, now=now, interval=interval))
                if key is not None:
                    slot = self._slots.get(key)
                    if slot is not None and slot.dirty and bucket.take():
                        slot.dirty = False
                        slot.task = asyncio.create_task(self._send(key, slot))
                    continue
                wait = self._next_ready(queue, now, interval)
            await self._nap(wake, wait)

    def _interval(self, method: str, now: float) -> float:
        """Seconds between two updates of one message: ``min_interval``, and once half the
        budget of the window is spent while several messages change, each one's equal
        share of the budget. Without that share the first busy room would spend a minute's
        budget on its own updates, and a room whose calls start a few seconds later would
        show nothing for a minute; applied from the start, it would hold every message to
        its share even while the budget is mostly unused (measured with 10 open rosters by
        bench/bench_roster.py: a roster's second change in 6 s waited up to 6 s)."""
        bucket = self._budget.bucket(method)
        since = now - bucket.window
        active = sum(s.method == method and s.touched >= since for s in self._slots.values())
        if active <= 1 or 2 * bucket.spent() < bucket.limit:
            return self.min_interval
        return max(self.min_interval, active * bucket.window / bucket.limit)

    def _ready(self, key: Key, now: float, interval: float) -> bool:
        slot = self._slots.get(key)
        return slot is None or (slot.task is None and now >= slot.last + interval)

    def _next_ready(self, queue: FairQueue[Key], now: float, interval: float) -> float | None:
        """Seconds until a waiting message may be sent; None while all are being sent."""
        lasts = [s.last for k in queue if (s := self._slots.get(k)) and s.task is None]
        return max(min(lasts) + interval - now, 0.001) if lasts else None

    async def _nap(self, wake: asyncio.Event, seconds: float | None) -> None:
        """Sleep ``seconds`` (None: until woken), or less if something new comes in."""
        if seconds is None:
            await wake.wait()
            return
        tasks = {asyncio.ensure_future(self._sleep(seconds)), asyncio.ensure_future(wake.wait())}
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()

    async def _send(self, key: Key, slot: _Slot) -> None:
        try:
            await slot.send(key, slot)
        except RateLimited as refused:
            log.info("Slack rate limit: %s waits %.1fs", slot.method, refused.retry_after)
            self._budget.bucket(slot.method).pause(refused.retry_after)
            slot.dirty = True
        except SlackApiError as exc:
            # Not retried: the same call would fail the same way.
            log.warning("could not update %s: %s", key, exc.response.get("error"))
        except Exception:
            log.exception("could not update %s", key)
        finally:
            slot.last = self._clock()
            slot.task = None
            if slot.closed:
                self._queues[slot.method].discard(key)
                if self._slots.get(key) is slot:
                    del self._slots[key]
            elif slot.dirty:
                self._queues[slot.method].add(slot.group, key)
            self._kick(slot.method)

    # -- sending --------------------------------------------------------------------------

    async def _send_card(self, key: Key, slot: _Slot) -> None:
        _, channel, ts = key
        service = self._deps.service
        # The card and its room as of one commit: a new PIN comes with include_pin cleared.
        state = await service.card_state(channel, ts)
        if state is None:  # forgotten meanwhile
            slot.closed = True
            return
        card, room = state
        if room is None:
            name = self._deleted.get(card.room_id, "This room")
            await self._update_message(slot, card, deleted_card(name))
        else:
            _, server = await self.rooms.state()
            count, online = self._deps.tracker.count(room.id), self._deps.tracker.online
            message = dial_in_card(room, server, count, online, include_pin=card.include_pin,
                                   state=call_state(self._deps.tracker, room.id))  # fmt: skip
            if slot.retire:
                message = retired_card(message, room)
            await self._update_message(slot, card, message)
        if (room is None or slot.retire) and not slot.closed:  # its last update
            await service.forget_card(channel, ts)
            slot.closed = True

    async def _update_message(self, slot: _Slot, card: SlackCard, message: dict[str, Any]) -> None:
        try:
            await limited(self._client.chat_update(channel=card.channel, ts=card.ts, **message))
        except SlackApiError as exc:
            error = exc.response.get("error")
            if error not in GONE:
                raise
            log.info("dial-in card %s/%s is gone (%s); forgetting it", card.channel, card.ts, error)
            await self._deps.service.forget_card(card.channel, card.ts)
            slot.closed = True

    async def _send_home(self, key: Key, slot: _Slot) -> None:
        user_id = key[1]
        if user_id not in self._homes:
            slot.closed = True
            return
        rooms, server = await self.rooms.state()
        tracker = self._deps.tracker
        view = home_view(rooms, tracker.counts(), tracker.online, server)
        await limited(self._client.views_publish(user_id=user_id, view=view))

    # -- rosters --------------------------------------------------------------------------

    async def watch_roster(self, view_id: str, watch: RosterWatch) -> None:
        """A roster modal opened (``views.open`` answered ``view_id``): keep it current.
        ``watch.shown`` is what it was opened with; a change since then is sent at once."""
        if not self._running:
            return
        watch.seen = self._clock()
        self._rosters[view_id] = watch
        followed = [v for v in self._rosters if not self._roster_retiring(v)]
        extra = max(len(followed) - MAX_ROSTERS, 0)
        for old in sorted(followed, key=lambda v: self._rosters[v].seen)[:extra]:
            self._mark_roster(old, self._rosters[old]).retire = True
        if self._roster_now(watch) != watch.shown:
            self._mark_roster(view_id, watch)

    def roster_closed(self, view_id: str) -> None:
        """``view_closed``: the person closed it; nothing more is sent to it."""
        self._rosters.pop(view_id, None)
        key = ("roster", view_id)
        slot = self._slots.get(key)
        if slot is None:
            return
        slot.closed = True
        if slot.task is None:  # not being sent: drop it now (else _send does)
            self._queues[ROSTER].discard(key)
            del self._slots[key]

    def roster_notice(self, view_id: str | None, user_id: str, text: str | None) -> bool:
        """Show ``text`` (mrkdwn, escaped) on top of ``user_id``'s open roster ``view_id``;
        False if that is not one (the caller then tells them another way). ``None`` clears
        an earlier notice: a click that worked shows in the roster itself, and a second
        update just to say so would spend the Slack budget the other rosters share."""
        watch = self._rosters.get(view_id) if view_id else None
        if view_id is None or watch is None or watch.user_id != user_id:
            return False
        if text is None and watch.notice is None:
            return True
        watch.notice = text
        watch.seen = self._clock()
        self._mark_roster(view_id, watch)
        return True

    def _roster_retiring(self, view_id: str) -> bool:
        slot = self._slots.get(("roster", view_id))
        return slot is not None and slot.retire

    def _roster_now(self, watch: RosterWatch) -> Mark:
        """What the roster would show now (the room as the marks know it)."""
        mark = self._marks.get(watch.room_id)
        room = (str(mark[0]), str(mark[1])) if mark is not None else None
        return roster_mark(self._deps.tracker, watch, room)

    def _schedule_rosters(self, rooms: Collection[int] | None) -> None:
        now = self._clock()
        for view_id, watch in list(self._rosters.items()):
            if rooms is not None and watch.room_id not in rooms:
                continue
            if now - watch.seen > ROSTER_TTL:
                self._mark_roster(view_id, watch).retire = True
            elif self._roster_now(watch) != watch.shown:
                self._mark_roster(view_id, watch)

    def _mark_roster(self, view_id: str, watch: RosterWatch) -> _Slot:
        group = ("roster", watch.room_id)  # rosters of one room take one turn
        return self._mark(("roster", view_id), ROSTER, group, self._send_roster)

    async def _send_roster(self, key: Key, slot: _Slot) -> None:
        view_id = key[1]
        watch = self._rosters.get(view_id)
        if watch is None:  # closed meanwhile
            slot.closed = True
            return
        tracker = self._deps.tracker
        try:
            room = await self._deps.service.get_room_by_id(watch.room_id)
        except RoomNotFound:
            view = roster_gone_view(self._deleted.get(watch.room_id, "This room"))
            last = True
        else:
            watch.shown = roster_mark(tracker, watch, room_key(room))
            view = render_roster(tracker, room, watch, footer=STOPPED if slot.retire else None)
            last = slot.retire
        try:
            await limited(self._client.views_update(view_id=view_id, view=view))
        except SlackApiError as exc:
            error = exc.response.get("error")
            if error not in VIEW_GONE:
                raise
            log.info("roster %s is gone (%s); forgetting it", view_id, error)
            last = True
        if last:
            if self._rosters.get(view_id) is watch:
                del self._rosters[view_id]
            slot.closed = True
