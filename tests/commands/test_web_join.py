"""The "Join from browser" button (issue 12) through the real Bolt app (signed requests),
the fake Slack Web API and a real Asterisk holding the links' SIP accounts: each clicker
gets a private one-time link of their own, trusted (no PIN) for the room's owners and the
admins, asking for the PIN for members and guests, none for another team; without
CONFERENCE_PUBLIC_URL the button says browser join is not set up and how to set it up."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.models import Room
from bot.service import ConferenceService
from bot.service.weblinks import WebJoin
from bot.wiring import Deps
from commands import ids
from telephony.naming import weblink_family
from telephony.weblinks import WebLinks
from tests.commands.conftest import ADMIN, ALICE, CHANNEL, HttpDriver, pbx_deps
from tests.commands.test_live_cards import post_card
from tests.fake_slack import Call, FakeSlack
from tests.pbx_fixtures import Pbx

PUBLIC = "https://conf.example.com"
OWNER = "UOWNER"
GUEST = "UGUEST"
OUTSIDER = "UOUTSIDER"
LINK = re.compile(re.escape(PUBLIC) + r"/join/([A-Za-z0-9_-]{43})")


@pytest.fixture
def web_on() -> bool:
    return True


@pytest.fixture
async def deps(
    service: ConferenceService, shared_pbx: Pbx, tmp_path: Path, web_on: bool
) -> AsyncIterator[Deps]:
    async with pbx_deps(service, shared_pbx, tmp_path) as real:
        web = WebJoin(PUBLIC, WebLinks(real.ami)) if web_on else None
        yield dataclasses.replace(real, web=web)


@pytest.fixture
async def room(service: ConferenceService, fake: FakeSlack) -> Room:
    made = await service.create_room(name="Board", conference_id="4242", pin="1234", actor="t")
    await service.add_owner(made.id, OWNER, actor="t")
    fake.profiles[GUEST] = {"is_restricted": True}
    fake.profiles[OUTSIDER] = {"team_id": "TOTHER"}
    fake.profiles[OWNER] = {"profile": {"display_name": 'Olga "O" <Owner>'}}
    return made


def card_button(posted: Call) -> dict[str, Any]:
    button: dict[str, Any] = posted.args["blocks"][1]["accessory"]
    assert button["action_id"] == ids.JOIN_FROM_BROWSER
    assert button["text"]["text"] == "Join from browser"
    return button


async def answer_to(slack: HttpDriver, user: str, posted: Call) -> str:
    """Click the card's button as ``user``; the private answer they got."""
    before = len(slack.fake.calls_to("response_url"))
    reply = await slack.click(ids.JOIN_FROM_BROWSER, card_button(posted)["value"], user=user,
                              channel=CHANNEL, message=posted.args)  # fmt: skip
    assert reply.status == 200
    told = await slack.fake.wait_for("response_url", count=before + 1)
    assert told.args["response_type"] == "ephemeral"
    return str(told.args["text"])


@pytest.mark.parametrize(
    ("user", "trusted"), [(OWNER, True), (ADMIN, True), (ALICE, False), (GUEST, False)]
)
async def test_each_clicker_gets_a_link_of_their_own(
    slack: HttpDriver, service: ConferenceService, deps: Deps, room: Room, user: str,
    trusted: bool,
) -> None:  # fmt: skip
    posted = await post_card(slack, service, "Board")
    text = await answer_to(slack, user, posted)
    found = LINK.search(text)
    assert found, text
    assert "works once" in text and "10 minutes" in text
    assert ("asks for it" in text) is not trusted
    # The link is this person's, in the PBX now, trusted as their role says.
    join = await service.redeem_web_link(found.group(1))
    assert join.trusted is trusted and join.room_name == "Board"
    link = await service.web_link(join.link_id)
    assert link is not None and link.slack_user == user
    msgs = await deps.ami.list_action(
        {"Action": "DBGet", "Family": weblink_family(join.link_id), "Key": "trusted"}
    )
    assert msgs and msgs[0]["Val"] == ("1" if trusted else "0")
    if user == OWNER:  # Slack's display name, made safe for a SIP caller ID
        assert join.display_name == "Olga O Owner"
    issued = [e for e in await service.audit_log() if e.action == "weblink.issue"]
    assert issued[0].actor == f"slack:{user}" and join.link_id in issued[0].summary


async def test_someone_of_another_team_gets_no_link(
    slack: HttpDriver, service: ConferenceService, room: Room
) -> None:
    posted = await post_card(slack, service, "Board")
    text = await answer_to(slack, OUTSIDER, posted)
    assert "only for people of this Slack workspace" in text and PUBLIC not in text
    refused = (await service.audit_log())[0]
    assert (refused.actor, refused.action) == (f"slack:{OUTSIDER}", "weblink.refused")


async def test_the_roster_has_the_button_and_answers_by_dm(
    slack: HttpDriver, service: ConferenceService, room: Room
) -> None:
    posted = await post_card(slack, service, "Board")
    await slack.click(ids.SHOW_PARTICIPANTS, str(room.id), user=ALICE, channel=CHANNEL,
                      message=posted.args)  # fmt: skip
    opened = await slack.fake.wait_for("views.open")
    heading = next(b for b in opened.args["view"]["blocks"] if b.get("block_id") == "roster-title")
    button = heading["accessory"]
    assert (button["action_id"], button["value"]) == (ids.JOIN_FROM_BROWSER, str(room.id))
    # Clicked in the modal (no channel, no response_url): the link comes by DM.
    await slack.click(ids.JOIN_FROM_BROWSER, button["value"], user=ALICE)
    dm = await slack.fake.wait_for("chat.postMessage", lambda c: c.args["channel"] == "DUALICE")
    assert LINK.search(dm.args["text"])


@pytest.mark.parametrize("web_on", [False])
async def test_without_a_public_url_the_button_says_how_to_set_it_up(
    slack: HttpDriver, service: ConferenceService, room: Room
) -> None:
    posted = await post_card(slack, service, "Board")
    text = await answer_to(slack, ALICE, posted)
    assert "not set up" in text and "CONFERENCE_PUBLIC_URL" in text
    assert "/join/" not in text
    async with service.repo.read() as repo:
        assert await repo._all("SELECT id FROM web_links") == []
