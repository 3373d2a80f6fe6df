"""The moderator PIN and the call options in the create and edit modals, through the real
Bolt app: inline errors keyed by block, and the moderator PIN shown to owners and admins only."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from bot.service import ConferenceService
from telephony.naming import MODPIN_KEY, OPTS_KEY, room_family
from tests.commands.conftest import ALICE, CHANNEL, HttpDriver
from tests.commands.test_room_modals import open_modal
from tests.pbx_fixtures import Pbx, Stack

BOB = "UBOB"  # an ordinary member who owns nothing
MODPIN = "97531"
ALL_OFF = {
    "wait_for_moderator": False,
    "end_with_moderator": False,
    "start_muted": False,
    "lobby": False,
    "join_notes": False,
}


def inputs(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}


def everything_sent(slack: HttpDriver) -> str:
    return json.dumps([c.args for c in slack.fake.calls])


async def test_create_with_a_moderator_pin_and_options(
    slack: HttpDriver, service: ConferenceService
) -> None:
    view = await open_modal(slack, "create")
    box = inputs(view)["call_options"]["element"]
    assert [o["value"] for o in box["options"]] == list(ALL_OFF)
    assert "initial_options" not in box  # a new room has every option off
    assert "initial_value" not in inputs(view)["moderator_pin"]["element"]

    reply = await slack.submit(
        view,
        {
            "name": "Board",
            "conference_id": "4242",
            "pin": "1234",
            "moderator_pin": MODPIN,
            "call_options": ["wait_for_moderator", "start_muted", "join_notes"],
        },
        user=ALICE,
    )
    assert (reply.status, reply.body) == (200, "")
    room = await service.get_room("4242")
    assert room.moderator_pin == MODPIN
    assert room.options() == {
        **ALL_OFF,
        "wait_for_moderator": True,
        "start_muted": True,
        "join_notes": True,
    }
    confirm = await slack.fake.wait_for("chat.postEphemeral")
    text = confirm.args["text"]
    assert confirm.args["channel"] == CHANNEL
    assert "a moderator PIN" in text and "wait for a moderator" in text
    assert MODPIN not in text and "1234" not in text and ":warning:" not in text
    entry = (await service.audit_log(1))[0]
    assert entry.action == "room.create" and entry.after and entry.after["has_moderator_pin"]
    assert MODPIN not in json.dumps([entry.summary, entry.before, entry.after])


async def test_moderator_pin_problems_show_on_its_block(
    slack: HttpDriver, service: ConferenceService
) -> None:
    view = await open_modal(slack, "create")
    reply = await slack.submit(
        view, {"name": "Board", "conference_id": "4242", "moderator_pin": "12"}, user=ALICE
    )
    assert reply.body == {
        "response_action": "errors",
        "errors": {
            "moderator_pin": "The moderator PIN must be 4 to 10 digits, or left empty for none."
        },
    }
    reply = await slack.submit(
        view,
        {"name": "Board", "conference_id": "4242", "pin": "2468", "moderator_pin": "2468"},
        user=ALICE,
    )
    assert list(reply.body["errors"]) == ["moderator_pin"]
    assert reply.body["errors"]["moderator_pin"].startswith(
        "The moderator PIN must differ from the room's PIN"
    )
    assert "moderator_pin" in inputs(view)  # keyed by an input block, so Slack shows it
    assert await service.list_rooms() == []


async def test_edit_shows_the_moderator_pin_to_an_owner_and_changes_options(
    slack: HttpDriver, service: ConferenceService
) -> None:
    room = await service.create_room(
        name="Board",
        conference_id="4242",
        pin="1111",
        moderator_pin=MODPIN,
        options={"lobby": True, "start_muted": True},
        actor=f"slack:{ALICE}",
    )
    view = await open_modal(slack, "edit board")
    fields = inputs(view)
    assert fields["moderator_pin"]["element"]["initial_value"] == MODPIN
    assert "1111" not in json.dumps(view)  # the PIN itself is still never sent back
    ticked = fields["call_options"]["element"]["initial_options"]
    assert sorted(o["value"] for o in ticked) == ["lobby", "start_muted"]

    # Untouched, the form saves what the room has: nothing changes.
    before = len(await service.audit_log())
    assert (await slack.submit(view, {}, user=ALICE)).body == ""
    assert await service.get_room_by_id(room.id) == room
    assert len(await service.audit_log()) == before

    reply = await slack.submit(
        view, {"moderator_pin": "86420", "call_options": ["lobby", "end_with_moderator"]},
        user=ALICE,
    )  # fmt: skip
    assert reply.body == ""
    after = await service.get_room_by_id(room.id)
    assert after.moderator_pin == "86420"
    assert after.options() == {**ALL_OFF, "lobby": True, "end_with_moderator": True}
    entry = (await service.audit_log(1))[0]
    assert entry.summary == (
        'Changed room "Board": moderator PIN changed; the call ends with the last moderator; '
        "callers join unmuted"
    )
    assert "86420" not in entry.summary and MODPIN not in entry.summary

    # Cleared while the call ends with the last moderator: refused next to the options
    # (nobody could be one), nothing saved; cleared with that option off, it is removed.
    view = await open_modal(slack, "edit board")
    reply = await slack.submit(view, {"moderator_pin": ""}, user=ALICE)
    assert reply.body["response_action"] == "errors"
    assert "need a moderator PIN" in reply.body["errors"]["call_options"]
    assert (await service.get_room_by_id(room.id)).moderator_pin == "86420"
    reply = await slack.submit(view, {"moderator_pin": "", "call_options": ["lobby"]}, user=ALICE)
    assert reply.body == ""
    assert (await service.get_room_by_id(room.id)).moderator_pin is None


async def test_a_new_pin_equal_to_the_moderator_pin_is_refused_inline(
    slack: HttpDriver, service: ConferenceService
) -> None:
    room = await service.create_room(
        name="Board", conference_id="4242", moderator_pin=MODPIN, actor=f"slack:{ALICE}"
    )
    view = await open_modal(slack, "edit board")
    reply = await slack.submit(view, {"pin": MODPIN}, user=ALICE)
    assert reply.body["response_action"] == "errors"
    assert list(reply.body["errors"]) == ["moderator_pin"]
    assert (await service.get_room_by_id(room.id)).pin is None


async def test_the_moderator_pin_never_reaches_a_non_owner_or_a_card(
    slack: HttpDriver, service: ConferenceService
) -> None:
    await service.create_room(
        name="Board", conference_id="4242", pin="1111", moderator_pin=MODPIN,
        options={"wait_for_moderator": True}, actor=f"slack:{ALICE}",
    )  # fmt: skip
    await slack.command("edit board", user=BOB)
    refusal = await slack.fake.wait_for("response_url")
    assert "owners" in refusal.args["text"] or "admins" in refusal.args["text"]
    listing = await slack.command("list", user=BOB)
    assert "Board" in json.dumps(listing.body) and MODPIN not in json.dumps(listing.body)
    # The owner posts a dial-in card with the PIN: the moderator PIN stays off it.
    share = await open_modal(slack, "info board")
    await slack.submit(share, {"channel": CHANNEL, "include_pin": True}, user=ALICE)
    card = await slack.fake.wait_for("chat.postMessage")
    assert "1111" in json.dumps(card.args)
    assert slack.fake.calls_to("views.open") == [slack.fake.calls_to("views.open")[0]]
    assert MODPIN not in everything_sent(slack)


# -- the options reach the PBX -----------------------------------------------------------


async def test_the_options_and_the_moderator_pin_reach_astdb(
    shared_pbx: Pbx, make_stack: Callable[[Pbx], Awaitable[Stack]]
) -> None:
    stack = await make_stack(shared_pbx)

    async def astdb(conference_id: str, key: str) -> str | None:
        """A key as Asterisk holds it (DBGet answers with a DBGetResponse event)."""
        listing = await stack.ami.list_action(
            {"Action": "DBGet", "Family": room_family(conference_id), "Key": key}
        )
        return next((str(m.get("Val", "")) for m in listing if "Val" in m), None)

    room = await stack.service.create_room(
        name="Board", conference_id="4242", pin="2468", moderator_pin=MODPIN,
        options={"wait_for_moderator": True, "start_muted": True, "lobby": True,
                 "join_notes": True},
        actor="t",
    )  # fmt: skip
    # Confirmed by AstDB before create_room returned (the sync waits for each DBPut).
    assert await astdb("4242", MODPIN_KEY) == MODPIN
    assert await astdb("4242", OPTS_KEY) == "wml"  # join_notes is the bot's alone
    await stack.service.update_room(
        room.id, moderator_pin="86420",
        options={"wait_for_moderator": False, "end_with_moderator": True, "lobby": False},
        actor="t",
    )  # fmt: skip
    assert await astdb("4242", MODPIN_KEY) == "86420"
    assert await astdb("4242", OPTS_KEY) == "em"
    await stack.service.update_room(
        room.id, moderator_pin=None, options={"end_with_moderator": False}, actor="t"
    )
    assert await astdb("4242", MODPIN_KEY) == ""
    assert await astdb("4242", OPTS_KEY) == "m"
    await stack.service.update_room(room.id, options={"start_muted": False, "end_with_moderator":
                                                      False}, actor="t")  # fmt: skip
    assert await astdb("4242", OPTS_KEY) == ""
