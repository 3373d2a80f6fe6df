"""Dial-in cards: posted from Slack, then following the room as callers join and leave."""

from __future__ import annotations

import asyncio
import os
import sys
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.models import SlackCard
from bot.repository import Repository
from bot.service import ConferenceService
from bot.wiring import Deps
from commands.app import web_client
from commands.live_cards import MAX_LIVE_CARDS, LiveCards
from commands.slack_settings import SlackSettings
from telephony.tracker import ParticipantTracker, PbxStatus
from tests.commands.conftest import (
    ADMIN,
    ALICE,
    CHANNEL,
    HttpDriver,
    environ,
    eventually,
    join,
    leave,
)
from tests.fake_slack import Call, FakeSlack

WITHIN = 2.0  # seconds for a change made by another process to reach the cards


def live_line(call: Call) -> str:
    """The count line of a card as posted or updated."""
    text: str = call.args["blocks"][-1]["elements"][0]["text"]
    return text


async def post_card(slack: HttpDriver, service: ConferenceService, room: str) -> Call:
    await slack.command(f"info {room}", user=ALICE)
    posted = await slack.fake.wait_for("chat.postMessage")
    for block in Block.parse_all(posted.args["blocks"]):
        block.validate_json()
    await eventually(service.cards)  # remembered once Slack answered
    return posted


async def _two(cards: Awaitable[list[SlackCard]]) -> bool:
    return len(await cards) == 2


async def updates_settle(live: LiveCards, fake: FakeSlack) -> list[Call]:
    await live.wait_idle()
    return fake.calls_to("chat.update")


async def test_card_count_goes_up_and_down(
    slack: HttpDriver, service: ConferenceService, tracker: ParticipantTracker, live: LiveCards
) -> None:
    room = await service.create_room(name="Board", conference_id="4242", actor="t")
    tracker.online = True
    posted = await post_card(slack, service, "Board")
    assert posted.args["channel"] == CHANNEL
    details = posted.args["blocks"][1]["text"]["text"]
    assert "extension 800" in details and "*Conference ID:* 4242#" in details
    assert live_line(posted) == ":telephone_receiver: nobody in the call"
    (card,) = await service.cards(room.id)
    assert (card.channel, card.include_pin, card.posted_by) == (CHANNEL, False, f"slack:{ALICE}")

    join(tracker, room.id, "c1")
    first = await slack.fake.wait_for("chat.update")
    assert (first.args["channel"], first.args["ts"]) == (card.channel, card.ts)
    assert live_line(first) == ":telephone_receiver: 1 person in the call"

    join(tracker, room.id, "c2")
    second = await slack.fake.wait_for("chat.update", count=2)
    assert live_line(second) == ":telephone_receiver: 2 people in the call"

    leave(tracker, room.id, "c1")
    leave(tracker, room.id, "c2")
    calls = await updates_settle(live, slack.fake)
    assert live_line(calls[-1]) == ":telephone_receiver: nobody in the call"


async def test_the_pin_is_shown_only_if_the_poster_chooses(
    slack: HttpDriver, service: ConferenceService
) -> None:
    # ALICE created it from Slack, so she owns it and may post its PIN.
    room = await service.create_room(
        name="Board", conference_id="4242", pin="9876", actor=f"slack:{ALICE}"
    )
    await slack.command("info Board", user=ALICE)
    opened = await slack.fake.wait_for("views.open")
    view = opened.args["view"]
    View(**view).validate_json()
    assert "9876" not in str(view)

    await slack.submit(view, {"channel": CHANNEL}, user=ALICE)
    without = await slack.fake.wait_for("chat.postMessage")
    assert "9876" not in str(without.args)
    assert "*PIN:* ask the organiser" in without.args["blocks"][1]["text"]["text"]

    await slack.submit(view, {"channel": "CTEAM", "include_pin": True}, user=ALICE)
    with_pin = await slack.fake.wait_for("chat.postMessage", count=2)
    assert with_pin.args["channel"] == "CTEAM"
    assert "*PIN:* 9876#" in with_pin.args["blocks"][1]["text"]["text"]
    await eventually(lambda: _two(service.cards(room.id)))
    cards = {c.channel: c.include_pin for c in await service.cards(room.id)}
    assert cards == {CHANNEL: False, "CTEAM": True}


async def test_a_new_pin_never_reaches_a_card_that_showed_the_old_one(
    slack: HttpDriver, service: ConferenceService, live: LiveCards
) -> None:
    # ALICE created it from Slack, so she owns it and may post its PIN.
    room = await service.create_room(
        name="Board", conference_id="4242", pin="9876", actor=f"slack:{ALICE}"
    )
    await slack.command("info Board", user=ALICE)
    opened = await slack.fake.wait_for("views.open")
    await slack.submit(opened.args["view"], {"channel": "CTEAM", "include_pin": True}, user=ALICE)
    posted = await slack.fake.wait_for("chat.postMessage")
    assert "*PIN:* 9876#" in posted.args["blocks"][1]["text"]["text"]
    await eventually(lambda: service.cards(room.id))

    await service.update_room("Board", actor="t", pin="1357")
    update = await slack.fake.wait_for("chat.update")
    await live.wait_idle()
    shown = str([c.args for c in slack.fake.calls_to("chat.update")])
    assert "1357" not in shown and "9876" not in shown
    assert "*PIN:* ask the organiser" in update.args["blocks"][1]["text"]["text"]
    assert [c.include_pin for c in await service.cards(room.id)] == [False]


async def test_updates_are_coalesced_to_one_a_second_and_end_on_the_final_count(
    slack: HttpDriver, service: ConferenceService, tracker: ParticipantTracker, live: LiveCards
) -> None:
    room = await service.create_room(name="Board", conference_id="4242", actor="t")
    tracker.online = True
    await post_card(slack, service, "Board")
    live.min_interval = 1.0

    for n in range(8):
        join(tracker, room.id, f"c{n}")
        await asyncio.sleep(0.02)
    leave(tracker, room.id, "c0")
    calls = await updates_settle(live, slack.fake)

    assert 1 <= len(calls) <= 2, [live_line(c) for c in calls]
    assert live_line(calls[-1]) == ":telephone_receiver: 7 people in the call"
    if len(calls) == 2:
        assert calls[1].at - calls[0].at >= 0.95


async def test_a_429_with_retry_after_still_ends_on_the_right_count(
    slack: HttpDriver, service: ConferenceService, tracker: ParticipantTracker, live: LiveCards
) -> None:
    room = await service.create_room(name="Board", conference_id="4242", actor="t")
    tracker.online = True
    await post_card(slack, service, "Board")
    slack.fake.rate_limit("chat.update", retry_after=1)

    join(tracker, room.id, "c1")
    refused = await slack.fake.wait_for("chat.update")
    join(tracker, room.id, "c2")
    join(tracker, room.id, "c3")
    calls = await updates_settle(live, slack.fake)

    assert len(calls) == 2  # the refused one, then one retry after Retry-After
    assert calls[1].at - refused.at >= 0.95
    assert live_line(calls[1]) == ":telephone_receiver: 3 people in the call"


async def test_cards_say_pbx_offline_while_it_is_down(
    slack: HttpDriver, service: ConferenceService, tracker: ParticipantTracker, live: LiveCards
) -> None:
    await service.create_room(name="Board", conference_id="4242", actor="t")
    posted = await post_card(slack, service, "Board")
    assert live_line(posted) == ":telephone_receiver: PBX offline"

    tracker.online = True
    tracker._emit(PbxStatus(online=True))
    up = await slack.fake.wait_for("chat.update")
    assert live_line(up) == ":telephone_receiver: nobody in the call"

    await tracker._went_down()
    down = await slack.fake.wait_for("chat.update", count=2)
    assert live_line(down) == ":telephone_receiver: PBX offline"


async def test_rename_and_deletion_show_on_the_card(
    slack: HttpDriver, service: ConferenceService, live: LiveCards
) -> None:
    room = await service.create_room(name="Board", conference_id="4242", actor="t")
    await post_card(slack, service, "Board")

    await service.update_room("Board", name="Boardroom", actor="t")
    renamed = await slack.fake.wait_for("chat.update")
    assert renamed.args["blocks"][0]["text"]["text"] == "*Boardroom*: conference call"

    await service.delete_room("Boardroom", actor="t")
    gone = await slack.fake.wait_for("chat.update", count=2)
    assert "this room was deleted" in gone.args["blocks"][0]["text"]["text"]
    assert "~Boardroom~" in gone.args["blocks"][0]["text"]["text"]
    await live.wait_idle()
    assert await service.cards(room.id) == []  # nothing more to update


async def test_a_card_deleted_in_slack_is_forgotten(
    slack: HttpDriver, service: ConferenceService, tracker: ParticipantTracker, live: LiveCards
) -> None:
    room = await service.create_room(name="Board", conference_id="4242", actor="t")
    await post_card(slack, service, "Board")
    slack.fake.fail("chat.update", "message_not_found")
    join(tracker, room.id, "c1")
    await slack.fake.wait_for("chat.update")
    await live.wait_idle()
    assert await service.cards(room.id) == []
    join(tracker, room.id, "c2")
    await asyncio.sleep(0.1)
    await live.wait_idle()
    assert len(slack.fake.calls_to("chat.update")) == 1


async def test_cards_keep_updating_after_a_restart(
    slack: HttpDriver,
    service: ConferenceService,
    tracker: ParticipantTracker,
    live: LiveCards,
    deps: Deps,
    fake: FakeSlack,
) -> None:
    room = await service.create_room(name="Board", conference_id="4242", actor="t")
    await post_card(slack, service, "Board")
    (card,) = await service.cards(room.id)
    await live.stop()  # the bot goes down...
    tracker.online = True
    join(tracker, room.id, "c1")
    await asyncio.sleep(0.05)
    assert fake.calls_to("chat.update") == []

    # ...and comes back: a new LiveCards finds the card in the database.
    client = web_client(SlackSettings.from_environ(environ(fake)))
    restarted = LiveCards(deps, client, min_interval=0.05)
    await restarted.start()
    try:
        refreshed = await fake.wait_for("chat.update")
        assert (refreshed.args["channel"], refreshed.args["ts"]) == (card.channel, card.ts)
        assert live_line(refreshed) == ":telephone_receiver: 1 person in the call"
        join(tracker, room.id, "c2")
        later = await fake.wait_for("chat.update", count=2)
        assert live_line(later) == ":telephone_receiver: 2 people in the call"
    finally:
        await restarted.stop()


async def test_info_in_a_channel_without_the_bot_explains(
    slack: HttpDriver, service: ConferenceService
) -> None:
    room = await service.create_room(name="Board", conference_id="4242", actor="t")
    slack.fake.fail("chat.postMessage", "not_in_channel")
    await slack.command("info Board", user=ALICE)
    told = await slack.fake.wait_for("response_url")
    assert told.args["text"].startswith("I am not in that channel. Invite me")
    assert await service.cards(room.id) == []


# -- changes made by another process (the CLI) ---------------------------------------------


@pytest.fixture
async def other(repo: Repository) -> AsyncIterator[ConferenceService]:
    """Another process's service: its own connection to the same file, and no observers."""
    connection = await Repository.open(repo.path)
    yield ConferenceService(connection)
    await connection.close()


async def test_a_rename_by_another_process_reaches_the_card(
    slack: HttpDriver, service: ConferenceService, other: ConferenceService
) -> None:
    await service.create_room(name="Board", conference_id="4242", actor="t")
    await post_card(slack, service, "Board")

    await other.update_room("Board", name="Boardroom", actor="cli:t")
    renamed = await slack.fake.wait_for("chat.update", timeout=WITHIN)
    assert renamed.args["blocks"][0]["text"]["text"] == "*Boardroom*: conference call"

    await other.update_room("Boardroom", conference_id="4343", actor="cli:t")
    renumbered = await slack.fake.wait_for("chat.update", count=2, timeout=WITHIN)
    assert "*Conference ID:* 4343#" in renumbered.args["blocks"][1]["text"]["text"]


async def test_a_deletion_by_another_process_replaces_the_card(
    slack: HttpDriver, service: ConferenceService, other: ConferenceService, live: LiveCards
) -> None:
    room = await service.create_room(name="Board", conference_id="4242", actor="t")
    await post_card(slack, service, "Board")

    await other.delete_room("Board", actor="cli:t")
    gone = await slack.fake.wait_for("chat.update", timeout=WITHIN)
    assert gone.args["blocks"][0]["text"]["text"] == (
        "~Board~: this room was deleted; its number no longer works."
    )
    await live.wait_idle()
    assert await service.cards(room.id) == []


async def test_a_new_server_number_set_by_another_process_reaches_the_card(
    slack: HttpDriver, service: ConferenceService, other: ConferenceService
) -> None:
    await service.create_room(name="Board", conference_id="4242", actor="t")
    await post_card(slack, service, "Board")

    await other.assign_number("+15551234567", "cli:t")
    updated = await slack.fake.wait_for("chat.update", timeout=WITHIN)
    assert "*Dial:* +15551234567" in updated.args["blocks"][1]["text"]["text"]


async def test_a_pin_change_withdraws_the_pin_from_cards_in_the_same_transaction(
    service: ConferenceService, other: ConferenceService
) -> None:
    room = await service.create_room(name="Board", conference_id="4242", pin="9876", actor="t")
    await service.remember_card(
        channel="CTEAM",
        ts="1.000001",
        room_id=room.id,
        include_pin=True,
        posted_by="t",
        shown_pin="9876",
    )
    assert [c.include_pin for c in await service.cards(room.id)] == [True]
    # No Slack process listens to this service: the rule holds in the service itself.
    await other.update_room("Board", pin="1357", actor="cli:t")
    assert (await service.get_room_by_id(room.id)).pin == "1357"
    assert [c.include_pin for c in await service.cards(room.id)] == [False]


async def test_a_pin_changed_from_the_cli_never_reaches_a_card_that_showed_the_old_one(
    slack: HttpDriver,
    service: ConferenceService,
    tracker: ParticipantTracker,
    live: LiveCards,
    repo: Repository,
    tmp_path: Path,
) -> None:
    room = await service.create_room(name="Board", conference_id="4242", pin="9876", actor="t")
    tracker.online = True
    await slack.command("info Board", user=ADMIN)
    opened = await slack.fake.wait_for("views.open")
    await slack.submit(opened.args["view"], {"channel": "CTEAM", "include_pin": True}, user=ADMIN)
    posted = await slack.fake.wait_for("chat.postMessage")
    assert "*PIN:* 9876#" in posted.args["blocks"][1]["text"]["text"]
    await eventually(lambda: service.cards(room.id))

    # `conference-bot rooms edit 4242 --pin 1357`, a process of its own, while the bot runs
    cli = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "rooms", "edit", "4242", "--pin", "1357",
        env=os.environ | {"CONFERENCE_DB": str(repo.path)}, cwd=tmp_path, stdout=PIPE,
        stderr=PIPE,
    )  # fmt: skip
    _, err = await cli.communicate()
    assert cli.returncode == 0, err.decode()

    withdrawn = await slack.fake.wait_for("chat.update", timeout=WITHIN)
    assert "*PIN:* ask the organiser" in withdrawn.args["blocks"][1]["text"]["text"]
    join(tracker, room.id, "c1")  # the next join re-renders the card
    joined = await slack.fake.wait_for(
        "chat.update", lambda c: live_line(c).endswith("1 person in the call"), timeout=WITHIN
    )
    assert "*PIN:* ask the organiser" in joined.args["blocks"][1]["text"]["text"]
    await live.wait_idle()
    assert "1357" not in str([c.args for c in slack.fake.calls])  # nothing to Slack, ever
    assert [c.include_pin for c in await service.cards(room.id)] == [False]


# -- at most a few live cards per room -------------------------------------------------------


async def _n_cards(service: ConferenceService, room_id: int, n: int) -> list[SlackCard]:
    cards = await service.cards(room_id)
    return cards if len(cards) == n else []


async def test_a_rooms_oldest_card_is_retired_past_the_cap(
    slack: HttpDriver, service: ConferenceService, tracker: ParticipantTracker, live: LiveCards
) -> None:
    room = await service.create_room(name="Board", conference_id="4242", actor="t")
    tracker.online = True
    channels = [f"C{n}" for n in range(MAX_LIVE_CARDS + 1)]
    for n, channel in enumerate(channels[:-1]):
        await slack.command("info Board", user=ALICE, channel=channel)
        await eventually(lambda n=n: _n_cards(service, room.id, n + 1))  # type: ignore[misc]
    assert slack.fake.calls_to("chat.update") == []

    await slack.command("info Board", user=ALICE, channel=channels[-1])
    retired = await slack.fake.wait_for("chat.update")
    assert retired.args["channel"] == channels[0]
    assert live_line(retired) == (
        "This card no longer updates live; use `/conference info 4242` for a fresh one."
    )
    assert retired.args["blocks"][-2]["elements"][0]["text"].endswith("nobody in the call")
    for block in Block.parse_all(retired.args["blocks"]):
        block.validate_json()
    cards = await eventually(lambda: _n_cards(service, room.id, MAX_LIVE_CARDS))
    assert [c.channel for c in cards] == channels[1:]

    join(tracker, room.id, "c1")
    await live.wait_idle()
    updates = slack.fake.calls_to("chat.update")[1:]
    assert sorted(c.args["channel"] for c in updates) == channels[1:]  # one each, none to C0
