"""Lists that grow with the rooms stay within Slack's limits and say how many were left out.

Slack refuses (or cuts) a message of more than 50 blocks or 40,000 characters of text, a
Home tab or modal of more than 100 blocks, a section text of more than 3000 characters.
``CONFERENCE_MAX_ROOMS`` goes up to 1000.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.config import Settings
from bot.models import Room, Server
from bot.service import ConferenceService
from commands.blocks.home import home_view
from commands.blocks.kit import esc
from commands.blocks.messages import room_list
from tests.commands.conftest import ADMIN, ALICE, CHANNEL, HttpDriver, app_home_opened

ROOMS = 300


def long_name(n: int) -> str:
    """64 characters, the most a name may have, most of them growing fivefold when escaped."""
    return f"Room {n:03d} " + "&<>" * 18 + "&"


@pytest.fixture
async def many_rooms(service: ConferenceService) -> int:
    service.max_rooms = Settings.from_environ({"CONFERENCE_MAX_ROOMS": "1000"}).max_rooms
    for n in range(ROOMS):
        await service.create_room(name=long_name(n), conference_id=f"{100000 + n}", actor="t")
    return ROOMS


def within_message_limits(message: dict[str, Any]) -> None:
    assert len(message["text"]) <= 40_000
    assert len(message["blocks"]) <= 50
    for block in Block.parse_all(message["blocks"]):
        assert block is not None
        block.validate_json()  # a section's text at most 3000 characters, and so on
    for block in message["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000


def more_note(blocks: list[dict[str, Any]]) -> int:
    """N of the "…and N more rooms." that ends a list."""
    last = blocks[-1]
    assert last["type"] == "context", last
    match = re.fullmatch(r"…and (\d+) more rooms\.", last["elements"][0]["text"])
    assert match, last
    return int(match.group(1))


async def test_the_room_list_says_how_many_more(slack: HttpDriver, many_rooms: int) -> None:
    listed = (await slack.command("list", user=ALICE)).body
    within_message_limits(listed)
    shown = [b for b in listed["blocks"] if "conference ID `" in b.get("text", {}).get("text", "")]
    assert len(shown) >= 45  # as many as fit
    assert more_note(listed["blocks"]) == many_rooms - len(shown)
    assert listed["text"].endswith(f"…and {many_rooms - len(shown)} more rooms.")
    assert f"*{many_rooms} rooms*" in listed["blocks"][0]["text"]["text"]


async def test_the_home_tab_says_how_many_more(slack: HttpDriver, many_rooms: int) -> None:
    await slack.event(app_home_opened(ALICE))
    view = (await slack.fake.wait_for("views.publish")).args["view"]
    View(**view).validate_json()  # at most 100 blocks, and so on
    assert len(view["blocks"]) <= 100
    shown = [b for b in view["blocks"] if str(b.get("block_id", "")).startswith("room-")]
    assert len(shown) >= 30
    assert more_note(view["blocks"]) == many_rooms - len(shown)


async def test_server_delete_refusal_stays_short_and_says_how_many_more(
    slack: HttpDriver, service: ConferenceService, many_rooms: int
) -> None:
    await service.assign_number("+15551234567", "t")
    await slack.click("server_delete_confirm", "delete", user=ADMIN, channel=CHANNEL)
    refused = (await slack.fake.wait_for("response_url")).args["text"]
    assert refused.startswith("The conference server cannot be deleted yet.")
    assert f"its {many_rooms} rooms" in refused
    assert f'"{esc(long_name(0))}" (ID 100000)' in refused  # escaped for mrkdwn
    listed = refused.count("(ID 1")
    assert 1 <= listed <= 20 and f" and {many_rooms - listed} more, then unassign" in refused
    assert "+15551234567" in refused
    assert len(refused) < 3000
    assert await service.get_server() is not None


def test_at_the_largest_room_cap_lists_stay_within_limits() -> None:
    server = Server("800", None, "t", "t", "t", "t")
    rooms = [
        Room(n, long_name(n), f"{100000 + n}", "1234", 10, "en", "t", "t", "t", "t")
        for n in range(Settings.from_environ({"CONFERENCE_MAX_ROOMS": "1000"}).max_rooms)
    ]
    counts = {room.id: 3 for room in rooms}
    listed = room_list(rooms, counts, True, server)
    within_message_limits(listed)
    assert more_note(listed["blocks"]) == 1000 - (len(listed["blocks"]) - 2)
    home = home_view(rooms, counts, True, server)
    View(**home).validate_json()
    assert (
        more_note(home["blocks"]) == 1000 - sum(b["type"] == "actions" for b in home["blocks"]) + 1
    )
    # Just under the limits, nothing is left out and nothing says so.
    few = room_list(rooms[:49], counts, True, server)
    assert len(few["blocks"]) == 50 and "more" not in few["text"]
    some = home_view(rooms[:32], counts, True, server)
    assert len(some["blocks"]) == 99 and "more rooms" not in str(some)
