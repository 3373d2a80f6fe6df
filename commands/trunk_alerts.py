"""Tells the admins' channel (``SLACK_ADMIN_CHANNEL``) when the registration trunk has been
lost for more than a minute, once per loss, and again when it is back.

:class:`OutageWatch` decides when (pure logic over the states seen and a clock);
:class:`TrunkAlerts` follows the trunk monitor, keeps the timer and posts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient

from commands.blocks.trunk import trunk_back, trunk_lost
from commands.notify import post_to_admins
from telephony.registration import RegistrationMonitor, TrunkState

log = logging.getLogger(__name__)

LOST_AFTER = 60.0  # seconds without registration before the admins hear of it


@dataclass(frozen=True, slots=True)
class Notice:
    kind: str  # "lost" | "back"
    state: TrunkState
    down_since: float
    at: float


class OutageWatch:
    """One notice when the trunk has been down ``threshold`` seconds, one when it is back
    after such a notice; a loss shorter than that is never reported. "Unknown" (the PBX
    is offline) is no news about the trunk: it neither starts nor ends a loss."""

    def __init__(self, threshold: float = LOST_AFTER) -> None:
        self.threshold = threshold
        self.down_since: float | None = None
        self.reported = False
        self._last: TrunkState | None = None

    def observe(self, state: TrunkState, now: float) -> Notice | None:
        """A new state; returns the notice it calls for, if any."""
        if not state.down and not state.registered:
            return None
        self._last = state
        if state.registered:
            notice = None
            if self.reported and self.down_since is not None:
                notice = Notice("back", state, self.down_since, now)
            self.down_since, self.reported = None, False
            return notice
        if self.down_since is None:  # a new loss: since the monitor first saw it
            self.down_since = min(now, state.since)
        return self.check(now)

    def due_at(self) -> float | None:
        """When the loss under way is to be reported (None: nothing to report)."""
        if self.down_since is None or self.reported:
            return None
        return self.down_since + self.threshold

    def check(self, now: float) -> Notice | None:
        due = self.due_at()
        if due is None or now < due or self._last is None:
            return None
        self.reported = True
        return Notice("lost", self._last, self.down_since or now, now)


class TrunkAlerts:
    """Follows ``monitor`` and posts :class:`OutageWatch`'s notices to ``channel``."""

    def __init__(
        self,
        monitor: RegistrationMonitor,
        client: AsyncWebClient,
        channel: str | None,
        *,
        threshold: float = LOST_AFTER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._monitor = monitor
        self._client = client
        self._channel = channel
        self._clock = clock
        self.watch = OutageWatch(threshold)
        self._timer: asyncio.TimerHandle | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._unsubscribe = self._monitor.add_listener(self.on_state)
        self._observe(self._monitor.state)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_idle(self) -> None:
        """Return once every notice due so far is posted (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def on_state(self, state: TrunkState) -> None:
        """Monitor listener."""
        self._observe(state)

    def _observe(self, state: TrunkState) -> None:
        self._send(self.watch.observe(state, self._clock()))
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        due = self.watch.due_at()
        if due is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(max(0.0, due - self._clock()), self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._send(self.watch.check(self._clock()))
        self._arm()

    def _send(self, notice: Notice | None) -> None:
        if notice is None:
            return
        task = asyncio.ensure_future(self._post(notice))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, notice: Notice) -> None:
        render = trunk_lost if notice.kind == "lost" else trunk_back
        message = render(notice.state, notice.down_since, notice.at)
        await post_to_admins(self._client, self._channel, message, "trunk notice")
