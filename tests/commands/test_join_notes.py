"""Join/leave notes in the thread of a room's latest dial-in card: through the real app once,
then on a fake clock for the 30 s coalescing (real time would make these take minutes)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from panoramisk.message import Message

from bot.models import Room
from bot.service import ConferenceService
from bot.wiring import Deps
from commands.app import web_client
from commands.join_notes import INTERVAL, MAX_LINES, JoinNotes, caller_text
from commands.slack_settings import SlackSettings
from telephony.naming import bridge_name
from telephony.tracker import Participant, ParticipantTracker
from tests.commands.conftest import ALICE, CHANNEL, HttpDriver, environ, leave
from tests.commands.test_live_budget import FakeClock
from tests.fake_slack import Call, FakeSlack


def join(tracker: ParticipantTracker, room_id: int, uid: str, number: str, name: str = "") -> None:
    """A caller joins, as Asterisk reports it (with the caller's own name, if any)."""
    tracker._on_join(
        Message(
            {
                "Event": "ConfbridgeJoin",
                "Timestamp": f"{time.time():.6f}",
                "Conference": bridge_name(room_id),
                "Channel": f"PJSIP/trunk-{uid}",
                "CallerIDNum": number,
                "CallerIDName": name or "<unknown>",
                "Uniqueid": uid,
                "Admin": "No",
                "Muted": "No",
            }
        )
    )


def mute(tracker: ParticipantTracker, room_id: int, uid: str) -> None:
    tracker._on_mute(
        Message(
            {
                "Event": "ConfbridgeMute",
                "Timestamp": f"{time.time():.6f}",
                "Conference": bridge_name(room_id),
                "Uniqueid": uid,
            }
        )
    )


async def test_a_note_in_the_latest_cards_thread_through_the_app(
    slack: HttpDriver, service: ConferenceService, tracker: ParticipantTracker
) -> None:
    room = await service.create_room(
        name="Board", conference_id="4242", options={"join_notes": True}, actor=f"slack:{ALICE}"
    )
    await slack.command("info board", channel="COLD")
    await slack.command("info 4242", channel=CHANNEL)
    await slack.fake.wait_for("chat.postMessage", count=2)
    latest = (await service.cards(room.id))[-1]
    assert latest.channel == CHANNEL

    join(tracker, room.id, "u1", "+1 555 123 4567", "<!channel> Ana & co")
    note = await slack.fake.wait_for("chat.postMessage", lambda c: "thread_ts" in c.args)
    assert (note.args["channel"], note.args["thread_ts"]) == (latest.channel, latest.ts)
    assert note.args["text"] == (
        "&lt;!channel&gt; Ana &amp; co (…4567) joined\nNow: 1 person in the call."
    )
    assert "555" not in note.args["text"]


def test_names_and_numbers_are_masked_and_escaped() -> None:
    def person(number: str, name: str) -> Participant:
        return Participant("u", "PJSIP/x-1", number, name, 0.0)

    assert caller_text(person("15551234567", "15551234567")) == "A caller (…4567)"
    assert caller_text(person("15551234567", "Caller 15551234567")) == "Caller …4567 (…4567)"
    assert caller_text(person("<unknown>", "<unknown>")) == "A caller"
    assert caller_text(person("alice", "Ana <b>")) == "Ana &lt;b&gt;"
    assert caller_text(person("2001", "Bob")) == "Bob (…2001)"


# -- on a fake clock ---------------------------------------------------------------------


class Notes:
    """JoinNotes on a fake clock against the fake Web API."""

    def __init__(self, notes: JoinNotes, clock: FakeClock, fake: FakeSlack) -> None:
        self.notes = notes
        self.clock = clock
        self.fake = fake
        self.stamped: list[tuple[float, Call]] = []

    async def settle(self) -> None:
        await self.notes.settled()
        self.stamped += [
            (self.clock.now, c) for c in self.fake.calls_to("chat.postMessage")[len(self.stamped) :]
        ]

    async def advance(self, seconds: float) -> None:
        await self.settle()
        self.clock.now += seconds
        self.clock.wake_due()
        await self.settle()

    def texts(self) -> list[str]:
        return [c.args["text"] for _, c in self.stamped]


@pytest.fixture
async def run(deps: Deps, fake: FakeSlack) -> AsyncIterator[Notes]:
    clock = FakeClock()
    async with aiohttp.ClientSession() as session:
        client = web_client(SlackSettings.from_environ(environ(fake)), session)
        notes = JoinNotes(deps, client, clock=clock, sleep=clock.sleep)
        notes.start()
        yield Notes(notes, clock, fake)
        await notes.stop()


async def room_with_card(service: ConferenceService, cid: str, *, notes: bool = True) -> Room:
    room = await service.create_room(
        name=f"Room {cid}", conference_id=cid, options={"join_notes": notes}, actor="t"
    )
    await service.remember_card(channel=f"C{cid}", ts="1700000000.000100", room_id=room.id,
                                include_pin=False, posted_by="t")  # fmt: skip
    return room


async def test_churn_is_coalesced_to_one_post_per_30_s_ending_on_the_truth(
    run: Notes, service: ConferenceService, tracker: ParticipantTracker
) -> None:
    room = await room_with_card(service, "4242")
    join(tracker, room.id, "a", "15550000001", "Ana")
    await run.settle()
    assert run.texts() == ["Ana (…0001) joined\nNow: 1 person in the call."]  # at once

    await run.advance(5)
    join(tracker, room.id, "b", "15550000002", "Bob")
    mute(tracker, room.id, "b")
    leave(tracker, room.id, "a")
    join(tracker, room.id, "c", "15550000003", "Cy")
    await run.advance(5)
    leave(tracker, room.id, "c")
    await run.advance(INTERVAL - 10 - 0.5)
    assert len(run.texts()) == 1  # 29.5 s after the first post: still one
    await run.advance(0.5)
    assert run.texts()[1:] == [
        "Bob (…0002) joined\nCy (…0003) joined and left\nAna (…0001) left\n"
        "Now: 1 person in the call."
    ]
    assert run.stamped[1][0] - run.stamped[0][0] == INTERVAL

    # Two minutes of churn: a post every 30 s at most; the last says who is really there.
    for n in range(120):
        join(tracker, room.id, f"x{n}", f"1555100{n:04d}")
        if n % 3:
            leave(tracker, room.id, f"x{n}")
        await run.advance(1)
    await run.advance(2 * INTERVAL)
    times = [t for t, _ in run.stamped]
    assert all(b - a >= INTERVAL for a, b in zip(times, times[1:], strict=False))
    assert 5 <= len(times) <= 7
    assert run.texts()[-1].endswith(f"Now: {tracker.count(room.id)} people in the call.")
    assert tracker.count(room.id) == 41
    # Everyone in the call was told as joined exactly once, and nobody twice.
    told = "\n".join(run.texts())
    assert all(told.count(f"(…{n:04d}) joined\n") == 1 for n in range(0, 120, 3))
    # Callers who came and went are named too, up to MAX_LINES lines a note; then counted.
    assert "(…0001) joined and left" in told
    assert all(len(text.splitlines()) <= MAX_LINES + 1 for text in run.texts())
    assert "more changes." in told


async def test_only_rooms_with_notes_and_a_card_and_only_joins_and_leaves(
    run: Notes, service: ConferenceService, tracker: ParticipantTracker
) -> None:
    quiet = await room_with_card(service, "1111", notes=False)
    no_card = await service.create_room(
        name="No card", conference_id="2222", options={"join_notes": True}, actor="t"
    )
    noted = await room_with_card(service, "3333")
    join(tracker, quiet.id, "q1", "15550000001")
    join(tracker, no_card.id, "n1", "15550000002")
    join(tracker, noted.id, "y1", "15550000003")
    await run.advance(1)
    assert [c.args["channel"] for _, c in run.stamped] == ["C3333"]
    mute(tracker, noted.id, "y1")  # not a join or leave: nothing to tell
    await run.advance(2 * INTERVAL)
    assert len(run.stamped) == 1

    # Turned on later: the notes start from who is there then.
    await service.update_room(quiet.id, options={"join_notes": True}, actor="t")
    join(tracker, quiet.id, "q2", "15550000004", "Dee")
    await run.advance(1)
    assert run.texts()[-1] == "Dee (…0004) joined\nNow: 2 people in the call."


async def test_a_reconcile_is_not_announced(
    run: Notes, service: ConferenceService, tracker: ParticipantTracker
) -> None:
    room = await room_with_card(service, "4242")
    ana = Participant("a", "PJSIP/trunk-a", "15550000001", "Ana", time.time())
    # What a reconcile finds after the bot (re)connected, published as the tracker does:
    # a snapshot with no event behind it.
    tracker._rooms[room.id] = {"a": ana}
    tracker._publish(room.id, None)
    await run.advance(2 * INTERVAL)
    assert run.texts() == []
    leave(tracker, room.id, "a")  # known from the reconcile: her leaving is told
    await run.advance(1)
    assert run.texts() == ["Ana (…0001) left\nNow: nobody in the call."]


async def test_a_bot_started_during_a_call_announces_nobody(
    deps: Deps, fake: FakeSlack, service: ConferenceService, tracker: ParticipantTracker
) -> None:
    room = await room_with_card(service, "4242")
    join(tracker, room.id, "a", "15550000001", "Ana")
    clock = FakeClock()
    async with aiohttp.ClientSession() as session:
        client = web_client(SlackSettings.from_environ(environ(fake)), session)
        notes = JoinNotes(deps, client, clock=clock, sleep=clock.sleep)
        notes.start()
        run = Notes(notes, clock, fake)
        await run.settle()
        assert run.texts() == []
        join(tracker, room.id, "b", "15550000002", "Bob")
        await run.advance(1)
        assert run.texts() == ["Bob (…0002) joined\nNow: 2 people in the call."]
        await notes.stop()


async def test_a_rate_limited_note_is_sent_again_in_full(
    run: Notes, service: ConferenceService, tracker: ParticipantTracker, fake: FakeSlack
) -> None:
    room = await room_with_card(service, "4242")
    fake.rate_limit("chat.postMessage", retry_after=3)
    join(tracker, room.id, "a", "15550000001", "Ana")
    await run.settle()
    assert len(run.stamped) == 1  # refused
    join(tracker, room.id, "b", "15550000002", "Bob")
    await run.advance(3)
    assert run.texts()[-1] == "Ana (…0001) joined\nBob (…0002) joined\nNow: 2 people in the call."
    assert len(run.stamped) == 2
