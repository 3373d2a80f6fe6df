"""Slack against a real Asterisk: sipp callers move dial-in cards, approvals hang them up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.errors import RoomNotFound
from bot.models import RequestStatus
from bot.service import ConferenceService
from bot.wiring import Deps
from commands.live_cards import LiveCards
from telephony.naming import ROOMS_FAMILY, room_family
from tests.commands.conftest import ADMIN, ADMIN_CHANNEL, HttpDriver, pbx_deps
from tests.commands.test_deletion import request_deletion
from tests.commands.test_live_cards import live_line, post_card
from tests.pbx_fixtures import Pbx, eventually


@pytest.fixture
async def deps(service: ConferenceService, shared_pbx: Pbx, tmp_path: Path) -> AsyncIterator[Deps]:
    """The real telephony stack in place of the never-started AMI client of the other tests."""
    async with pbx_deps(service, shared_pbx, tmp_path) as real:
        yield real


async def test_card_follows_real_callers(
    slack: HttpDriver, service: ConferenceService, deps: Deps, live: LiveCards, shared_pbx: Pbx
) -> None:
    room = await service.create_room(name="Board", conference_id="4242", actor="t")
    posted = await post_card(slack, service, "Board")
    assert live_line(posted) == ":telephone_receiver: nobody in the call"

    callers = [asyncio.create_task(shared_pbx.sipp.call("800", dtmf="4242#", hold_ms=hold))
               for hold in (4000, 6000)]  # fmt: skip
    up = await slack.fake.wait_for(
        "chat.update",
        lambda c: live_line(c) == ":telephone_receiver: 2 people in the call",
        timeout=20,
    )
    (card,) = await service.cards(room.id)
    assert (up.args["channel"], up.args["ts"]) == (card.channel, card.ts)
    assert deps.tracker.count(room.id) == 2
    await slack.fake.wait_for(
        "chat.update",
        lambda c: live_line(c) == ":telephone_receiver: 1 person in the call",
        timeout=20,
    )
    assert all(r.ok for r in await asyncio.gather(*callers))
    await eventually(lambda: deps.tracker.count(room.id) == 0, what="room empty")
    await live.wait_idle()
    assert live_line(slack.fake.calls_to("chat.update")[-1]) == (
        ":telephone_receiver: nobody in the call"
    )


async def test_approval_hangs_up_real_callers(
    slack: HttpDriver, service: ConferenceService, deps: Deps, shared_pbx: Pbx
) -> None:
    room = await service.create_room(name="Board", conference_id="4343", actor="t")
    callers = [asyncio.create_task(shared_pbx.sipp.call("800", dtmf="4343#",
                                                        wait_for_hangup=True, tag=f"k{i}"))
               for i in range(2)]  # fmt: skip
    await eventually(lambda: deps.tracker.count(room.id) == 2, what="two callers in")

    message = await request_deletion(slack, "Board", reason="done")
    assert "2 people in the call" in str(message["blocks"])
    (request,) = await service.list_requests(RequestStatus.PENDING)
    where = {"ts": "1700000001.000001", "text": message["text"]}
    reply = await slack.click(
        "deletion_approve", str(request.id), user=ADMIN, channel=ADMIN_CHANNEL, message=where
    )
    assert reply.status == 200

    results = await asyncio.wait_for(asyncio.gather(*callers), 30)
    assert all(r.ok for r in results), [r.log for r in results if not r.ok]  # hung up on
    await eventually(lambda: deps.tracker.count(room.id) == 0, what="callers gone")
    with pytest.raises(RoomNotFound):
        await service.get_room("Board")
    shown = await deps.ami.list_action({"Action": "DBGetTree", "Family": ROOMS_FAMILY},
                                       strict=True)  # fmt: skip
    assert not any(f"/{room_family('4343')}/" in str(m.get("Key")) for m in shown)


async def test_pbx_offline_while_asterisk_is_stopped(
    slack: HttpDriver, service: ConferenceService, deps: Deps, live: LiveCards, shared_pbx: Pbx
) -> None:
    await service.create_room(name="Board", conference_id="4444", actor="t")
    posted = await post_card(slack, service, "Board")
    assert live_line(posted) == ":telephone_receiver: nobody in the call"
    first = (await slack.command("list")).body
    assert "PBX offline" not in first["text"]

    shared_pbx.stop()
    try:
        await eventually(lambda: not deps.tracker.online, what="tracker offline")
        down = (await slack.command("list")).body
        assert "PBX offline" in down["text"]
        card = await slack.fake.wait_for(
            "chat.update", lambda c: live_line(c) == ":telephone_receiver: PBX offline"
        )
        assert card.args["ts"]
    finally:
        shared_pbx.start()
    await eventually(lambda: deps.tracker.online, timeout=30, what="back online")
    back = (await slack.command("list")).body
    assert "PBX offline" not in back["text"]
    await slack.fake.wait_for(
        "chat.update", lambda c: live_line(c) == ":telephone_receiver: nobody in the call"
    )
