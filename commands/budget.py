"""Slack's rate limits as one budget for every background update (dial-in cards, Home tabs,
open rosters).

Slack limits each Web API method per workspace, for the whole app, not per message or
channel: ``chat.update`` is Tier 3 (about 50 calls a minute), ``views.publish`` Tier 4 (about
100 a minute); beyond that it answers HTTP 429 with ``Retry-After``. So every live message
draws on one bucket per method, and stale messages wait their turn in a ``FairQueue``.

One bucket per method, not one shared: Slack counts the two methods separately, so a shared
bucket would have to run at the lower tier, and a burst of Home tab refreshes would then
starve the dial-in cards (and the other way round). Each bucket is as conservative as its
own tier.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterator
from typing import Generic, TypeVar

from slack_sdk.errors import SlackApiError

Clock = Callable[[], float]

WINDOW = 60.0  # Slack states its tiers per minute
# Calls reach Slack a little after we send them, and unevenly: counting our minute one
# second longer keeps any minute counted at Slack's end within the tier too.
MARGIN = 1.0
# Calls a minute: chat.update Tier 3; views.publish (Home tabs) and views.update (open
# rosters) Tier 4, each counted on its own by Slack.
TIERS = {"chat.update": 50, "views.publish": 100, "views.update": 100}
DEFAULT_TIER = 50  # any other method: the strictest tier used here

K = TypeVar("K", bound=Hashable)


class RateLimited(Exception):
    """Slack answered HTTP 429: wait ``retry_after`` seconds before calling that method."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


async def limited(call: Awaitable[object]) -> None:
    """Make a Web API call; a 429 raises ``RateLimited`` with Slack's ``Retry-After``."""
    try:
        await call
    except SlackApiError as exc:
        if exc.response.status_code != 429:
            raise
        headers = exc.response.headers or {}
        raw = headers.get("Retry-After") or headers.get("retry-after") or "1"
        try:
            retry_after = max(float(raw), 0.0)
        except (TypeError, ValueError):
            retry_after = 1.0
        raise RateLimited(retry_after) from None


class TokenBucket:
    """At most ``limit`` calls in any ``window`` seconds, at most ``burst`` of them at once.

    A call spends a token; a token comes back ``window`` seconds after it was spent. A
    classic bucket (refilled at ``limit / window`` a second up to ``burst``) would let
    ``burst + limit`` calls through in one window (a full bucket, then a window's refill),
    so to keep "50 a minute" it would have to run at ``50 - burst`` a minute: a backlog of 50
    cards would then take well over a minute. Returning each token a window after its use
    makes the cap exact at the full rate. ``burst`` (default: ``limit``) adds a classic
    refill on top, to spread calls out instead of letting a quiet bucket go all at once.
    """

    def __init__(
        self,
        limit: int,
        window: float = WINDOW + MARGIN,
        *,
        burst: int | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a bucket needs a limit of at least 1 call and a positive window")
        self.limit = limit
        self.window = window
        self.burst = max(1, min(burst or limit, limit))
        self._clock = clock
        self._spent: deque[float] = deque()  # when each token still out was spent
        self._tokens = float(self.burst)  # the classic refill, for ``burst``
        self._refilled = clock()
        self._paused_until = -math.inf

    @property
    def rate(self) -> float:
        """Calls a second, sustained."""
        return self.limit / self.window

    def _catch_up(self, now: float) -> None:
        while self._spent and self._spent[0] + self.window <= now:
            self._spent.popleft()
        self._tokens = min(float(self.burst), self._tokens + (now - self._refilled) * self.rate)
        self._refilled = now

    def spent(self) -> int:
        """Calls made within the last window."""
        self._catch_up(self._clock())
        return len(self._spent)

    def delay(self) -> float:
        """Seconds until the next call may go; 0 if it may go now."""
        now = self._clock()
        self._catch_up(now)
        wait = self._paused_until - now
        if len(self._spent) >= self.limit:
            wait = max(wait, self._spent[0] + self.window - now)
        if self._tokens < 1.0:
            wait = max(wait, (1.0 - self._tokens) / self.rate)
        return max(wait, 0.0)

    def take(self) -> bool:
        """Spend a token if one is there."""
        if self.delay() > 0:
            return False
        self._spent.append(self._clock())
        self._tokens -= 1.0
        return True

    def pause(self, seconds: float) -> None:
        """Slack answered 429: no call for ``seconds`` (its ``Retry-After``)."""
        self._paused_until = max(self._paused_until, self._clock() + max(seconds, 0.0))


class SlackBudget:
    """The buckets of every Web API method the background updates use, shared by all."""

    def __init__(
        self,
        limits: dict[str, int] | None = None,
        *,
        window: float = WINDOW + MARGIN,
        burst: int | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        """``limits``: calls per ``window`` by method (default: Slack's tiers, a minute);
        ``burst`` caps back-to-back calls of each method (default: its whole limit)."""
        self._limits = dict(TIERS if limits is None else limits)
        self._window = window
        self._burst = burst
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    async def spend(
        self, method: str, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    ) -> None:
        """Wait for a token of ``method``'s bucket and spend it: for a live message sent
        outside LiveCards' queues (a lobby request's outcome), so it counts against the same
        per-minute budget as the cards and rosters."""
        bucket = self.bucket(method)
        while not bucket.take():
            await sleep(max(bucket.delay(), 0.01))

    def bucket(self, method: str) -> TokenBucket:
        found = self._buckets.get(method)
        if found is None:
            limit = self._limits.get(method, DEFAULT_TIER)
            found = TokenBucket(limit, self._window, burst=self._burst, clock=self._clock)
            self._buckets[method] = found
        return found


class FairQueue(Generic[K]):
    """Keys waiting for their turn, in groups (a card's room) that take turns.

    The next key comes from the group served longest ago (never served: first), so one busy
    room cannot hold the others back; within a group, first come first served. A key already
    waiting keeps its place when added again (its update shows the state at send time).
    """

    def __init__(self) -> None:
        self._groups: dict[Hashable, dict[K, None]] = {}  # waiting keys, in arrival order
        self._group_of: dict[K, Hashable] = {}
        self._turns: dict[Hashable, int] = {}  # group -> when it was last served
        self._served = 0

    def __len__(self) -> int:
        return len(self._group_of)

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._group_of))

    def add(self, group: Hashable, key: K) -> None:
        if key not in self._group_of:
            self._groups.setdefault(group, {})[key] = None
            self._group_of[key] = group

    def discard(self, key: K) -> None:
        group = self._group_of.pop(key, None)
        if group is not None:
            keys = self._groups[group]
            del keys[key]
            if not keys:
                del self._groups[group]

    def pop(self, ready: Callable[[K], bool]) -> K | None:
        """The first ready key of the group served longest ago that has one."""
        best: tuple[int, Hashable, K] | None = None
        for group, keys in self._groups.items():
            turn = self._turns.get(group, -1)
            if best is not None and turn >= best[0]:
                continue
            key = next((k for k in keys if ready(k)), None)
            if key is not None:
                best = (turn, group, key)
        if best is None:
            return None
        _, group, key = best
        self._served += 1
        self._turns[group] = self._served
        self.discard(key)
        return key
