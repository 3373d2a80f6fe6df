"""Live cards and Home tabs share Slack's per-method budget, fairly, whatever the load.

Most of these run LiveCards against the fake Web API on a fake clock: the budget's real
numbers (50 chat.update a minute) would otherwise take minutes of waiting.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.models import Room, SlackCard
from bot.service import ConferenceService
from bot.wiring import Deps
from commands.app import web_client
from commands.budget import SlackBudget
from commands.live_cards import LiveCards
from commands.slack_settings import SlackSettings
from telephony.tracker import ParticipantTracker
from tests.commands.conftest import environ, join
from tests.fake_slack import Call, FakeSlack


class FakeClock:
    """Time that moves only when the test says; sleepers wake when their time comes."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, future))
        await future

    def wake_due(self) -> None:
        due = [f for t, f in self._sleepers if t <= self.now]
        self._sleepers = [(t, f) for t, f in self._sleepers if t > self.now and not f.done()]
        for future in due:
            if not future.done():
                future.set_result(None)


class Run:
    """LiveCards on a fake clock; every call at the fake is stamped with the fake time."""

    def __init__(self, live: LiveCards, clock: FakeClock, fake: FakeSlack) -> None:
        self.live = live
        self.clock = clock
        self.fake = fake
        self.stamped: list[tuple[float, Call]] = []

    async def advance(self, seconds: float) -> None:
        self.clock.now += seconds
        self.clock.wake_due()
        for _ in range(4):  # woken tasks start their sends; the fake answers them
            for _ in range(10):
                await asyncio.sleep(0)
            await self.live.wait_sent()
        self.stamped += [(self.clock.now, c) for c in self.fake.calls[len(self.stamped) :]]

    def times(self, method: str) -> list[float]:
        return [t for t, c in self.stamped if c.method == method]

    def last_update(self, card: SlackCard) -> Call | None:
        updates = [
            c
            for _, c in self.stamped
            if c.method == "chat.update"
            and (c.args["channel"], c.args["ts"]) == (card.channel, card.ts)
        ]
        return updates[-1] if updates else None


def most_in_a_minute(times: list[float]) -> int:
    return max((sum(1 for u in times if t <= u < t + 60.0) for t in times), default=0)


_ts = itertools.count(1)


async def make_cards(service: ConferenceService, rooms: int, per_room: int) -> list[Room]:
    made = []
    for r in range(rooms):
        room = await service.create_room(name=f"Room {r}", conference_id=f"{500 + r}", actor="t")
        made.append(room)
        for c in range(per_room):
            await service.remember_card(
                channel=f"C{r}x{c}", ts=f"1700000000.{next(_ts):06d}", room_id=room.id,
                include_pin=False, posted_by="t",
            )  # fmt: skip
    return made


@pytest.fixture
async def run(
    deps: Deps, fake: FakeSlack, tracker: ParticipantTracker, request: pytest.FixtureRequest
) -> AsyncIterator[Run]:
    """``budget`` (indirect parameter): the limits to use, by method; default Slack's."""
    clock = FakeClock()
    limits = getattr(request, "param", None)
    async with aiohttp.ClientSession() as session:
        client = web_client(SlackSettings.from_environ(environ(fake)), session)
        live = LiveCards(
            deps, client, clock=clock, sleep=clock.sleep, budget=SlackBudget(limits, clock=clock)
        )
        tracker.online = True
        yield Run(live, clock, fake)
        await live.stop()


async def test_at_the_real_numbers_no_minute_holds_more_than_slacks_tier(
    run: Run, service: ConferenceService, tracker: ParticipantTracker
) -> None:
    rooms = await make_cards(service, rooms=10, per_room=5)
    cards = await service.cards()
    await run.live.start(refresh=False)
    await run.live.show_home("UHOME1")
    await run.live.show_home("UHOME2")

    arrivals = [room for room in rooms for _ in range(10)]  # every room fills up
    random.Random(3).shuffle(arrivals)
    for n, room in enumerate(arrivals):  # 100 joins in 10 s
        join(tracker, room.id, f"u{n}")
        await run.advance(0.1)
    waited = 0.0
    while waited < 600 and not all(
        (last := run.last_update(c)) and "10 people in the call" in str(last.args["blocks"])
        for c in cards
    ):
        await run.advance(0.5)
        waited += 0.5
    await run.advance(120)  # and nothing more to send

    updates = run.times("chat.update")
    assert most_in_a_minute(updates) <= 50, most_in_a_minute(updates)
    assert most_in_a_minute(run.times("views.publish")) <= 100
    assert waited < 600, "not every card shows the final count"
    # Coalesced: far fewer updates than the 500 card changes, none after the last is right.
    assert 50 <= len(updates) <= 150
    assert run.stamped[-1][0] <= run.clock.now - 120


@pytest.mark.parametrize("run", [{"chat.update": 3}], indirect=True)
async def test_one_busy_room_does_not_starve_the_others(
    run: Run, service: ConferenceService, tracker: ParticipantTracker
) -> None:
    busy, quiet, other = await make_cards(service, rooms=3, per_room=1)
    for n in range(4):  # the busy room has five cards
        await service.remember_card(
            channel=f"CBUSY{n}", ts=f"1.{n}", room_id=busy.id, include_pin=False, posted_by="t"
        )
    await run.live.start(refresh=False)

    join(tracker, busy.id, "b0")
    await run.advance(0.1)  # three of its five cards use the budget up
    join(tracker, quiet.id, "q0")
    join(tracker, other.id, "o0")
    for n in range(1, 40):  # the busy room keeps changing
        join(tracker, busy.id, f"b{n}")
        await run.advance(2.0)

    rooms = [
        next(c.room_id for c in await service.cards() if c.channel == call.args["channel"])
        for _, call in run.stamped
        if call.method == "chat.update"
    ]
    assert rooms[:3] == [busy.id] * 3
    assert sorted(rooms[3:5]) == sorted([quiet.id, other.id])  # the next tokens go to them
    assert len(rooms) <= 3 * 2  # 3 a window (61 s), for 80 s


async def test_a_429_holds_back_every_card_not_just_the_one_refused(
    deps: Deps, fake: FakeSlack, service: ConferenceService, tracker: ParticipantTracker
) -> None:
    first, second = await make_cards(service, rooms=2, per_room=1)
    tracker.online = True
    async with aiohttp.ClientSession() as session:
        client = web_client(SlackSettings.from_environ(environ(fake)), session)
        live = LiveCards(deps, client, min_interval=0.05)
        await live.start(refresh=False)
        try:
            fake.rate_limit("chat.update", retry_after=1)
            join(tracker, first.id, "c1")
            refused = await fake.wait_for("chat.update")
            join(tracker, second.id, "c2")
            await live.wait_idle()
        finally:
            await live.stop()
    later = fake.calls_to("chat.update")[1:]
    assert {c.args["channel"] for c in later} == {"C0x0", "C1x0"}
    assert min(c.at for c in later) - refused.at >= 0.95
