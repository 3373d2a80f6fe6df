"""/conference subcommands over HTTP: help, usage, list, admin-only server commands."""

from __future__ import annotations

import time
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.service import ConferenceService
from telephony.tracker import ParticipantTracker
from tests.commands.conftest import ADMIN, ALICE, LISTED_ADMIN, HttpDriver, join


def valid_blocks(blocks: list[dict[str, Any]]) -> None:
    for block in Block.parse_all(blocks):
        block.validate_json()


async def test_help_is_ephemeral_with_buttons(slack: HttpDriver) -> None:
    for text in ("", "help", "HELP me"):
        reply = await slack.command(text)
        assert reply.status == 200
        assert reply.body["response_type"] == "ephemeral"
        actions = [b for b in reply.body["blocks"] if b["type"] == "actions"][0]
        assert [e["action_id"] for e in actions["elements"]] == ["help_create", "help_list"]
        valid_blocks(reply.body["blocks"])
    assert slack.fake.calls == [] or {c.method for c in slack.fake.calls} == {"auth.test"}


async def test_unknown_subcommand_and_bad_arguments_get_usage(slack: HttpDriver) -> None:
    reply = await slack.command("frobnicate now")
    assert reply.status == 200
    assert reply.body["response_type"] == "ephemeral"
    assert 'There is no subcommand "frobnicate"' in reply.body["text"]
    assert "/conference create [name]" in reply.body["text"]

    for text, problem in [
        ("edit", "Say which room: `/conference edit ROOM`."),
        ("delete", "Say which room: `/conference delete ROOM`."),
        ("info", "Say which room"),
        ("list extra", "takes no arguments"),
        ("number assign", "Usage: `/conference number assign +E164`"),
        ("server", "Usage: `/conference server delete`."),
    ]:
        reply = await slack.command(text)
        assert problem in reply.body["text"], text
    assert slack.fake.calls_to("response_url") == []  # answered in the ack itself


async def test_list_shows_rooms_counts_and_never_pins(
    slack: HttpDriver, service: ConferenceService, tracker: ParticipantTracker
) -> None:
    secret = await service.create_room(name="Board", conference_id="4242", pin="987654", actor="t")
    await service.create_room(name="Open <door>", conference_id="5151", actor="t")
    tracker.online = True
    join(tracker, secret.id, "c1")
    join(tracker, secret.id, "c2")

    reply = await slack.command("list")  # answered in the acknowledgement itself
    listed = reply.body
    assert listed["response_type"] == "ephemeral"
    shown = str(listed)
    assert "987654" not in shown
    board = next(b for b in listed["blocks"] if "Board" in b["text"]["text"])["text"]["text"]
    assert "`4242`" in board and "PIN required" in board and "2 people in the call" in board
    door = next(b for b in listed["blocks"] if "5151" in b["text"]["text"])["text"]["text"]
    assert "Open &lt;door&gt;" in door and "no PIN" in door and "nobody in the call" in door
    assert "PBX offline" not in shown
    valid_blocks(listed["blocks"])
    assert slack.fake.calls_to("response_url") == []


async def test_list_says_pbx_offline_while_ami_is_down(
    slack: HttpDriver, service: ConferenceService, tracker: ParticipantTracker
) -> None:
    await service.create_room(name="Board", conference_id="4242", actor="t")
    assert tracker.online is False  # the AMI client was never started
    listed = (await slack.command("list")).body
    assert "PBX offline" in listed["text"]
    assert "PBX offline" in listed["blocks"][1]["text"]["text"]
    assert "people in the call" not in listed["text"]


async def test_list_without_rooms_suggests_create(slack: HttpDriver) -> None:
    listed = (await slack.command("list")).body
    assert "There are no rooms yet" in listed["text"]


async def test_setup_number_and_server_delete_are_admins_only(
    slack: HttpDriver, service: ConferenceService
) -> None:
    await slack.command("number assign +15551234567", user=ALICE)
    refused = await slack.fake.wait_for("response_url")
    assert "Only workspace admins" in refused.args["text"]
    server = await service.get_server()
    assert server is not None and server.phone_number is None
    audit = await service.audit_log(1)
    assert (audit[0].actor, audit[0].action) == (f"slack:{ALICE}", "slack.refused")

    await slack.command("number assign +1 (555) 123-4567", user=ADMIN)
    done = await slack.fake.wait_for("response_url", count=2)
    assert done.args["text"] == "Phone number +15551234567 now reaches extension 800."
    server = await service.get_server()
    assert server is not None and server.phone_number == "+15551234567"
    assert (await service.audit_log(1))[0].actor == f"slack:{ADMIN}"

    # SLACK_ADMIN_USERS counts too; users.info still confirms they are one of ours.
    await slack.command("setup 801", user=LISTED_ADMIN)
    done = await slack.fake.wait_for("response_url", count=3)
    assert done.args["text"] == "Conference server extension is now 801."
    asked = [c.args["user"] for c in slack.fake.calls_to("users.info")]
    assert asked == [ALICE, ADMIN, LISTED_ADMIN]


async def test_bad_number_shows_the_domain_message(slack: HttpDriver) -> None:
    await slack.command("number assign 12345", user=ADMIN)
    call = await slack.fake.wait_for("response_url")
    assert call.args["response_type"] == "ephemeral"
    assert call.args["text"].startswith('"12345" is not a phone number in E.164 form')


async def test_server_delete_confirms_then_gives_the_cli_guidance(
    slack: HttpDriver, service: ConferenceService
) -> None:
    await service.create_room(name="Board", conference_id="4242", actor="t")
    await slack.command("server delete", user=ADMIN)
    ask = await slack.fake.wait_for("response_url")
    button = ask.args["blocks"][1]["elements"][0]
    assert button["action_id"] == "server_delete_confirm" and "confirm" in button
    valid_blocks(ask.args["blocks"])

    await slack.click("server_delete_confirm", "delete", user=ADMIN, channel="CGENERAL")
    guidance = await slack.fake.wait_for("response_url", count=2)
    assert guidance.args["text"] == (
        'The conference server cannot be deleted yet. First delete its room: "Board" (ID 4242).'
    )
    assert await service.get_server() is not None

    await service.delete_room("Board", actor="t")
    await slack.click("server_delete_confirm", "delete", user=ADMIN, channel="CGENERAL")
    done = await slack.fake.wait_for("response_url", count=3)
    assert done.args["text"] == "Conference server deleted."
    assert await service.get_server() is None


async def test_create_opens_a_modal_with_a_free_suggested_id(
    slack: HttpDriver, service: ConferenceService
) -> None:
    await slack.command("create Weekly sync")
    call = await slack.fake.wait_for("views.open")
    view = call.args["view"]
    View(**view).validate_json()
    assert call.args["trigger_id"].endswith(".1234.abcdef")
    by_id = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert by_id["name"]["element"]["initial_value"] == "Weekly sync"
    suggested = by_id["conference_id"]["element"]["initial_value"]
    assert len(suggested) == 6 and suggested.isdigit()
    assert by_id["max_participants"]["element"]["max_value"] == "10"
    assert [o["value"] for o in by_id["language"]["element"]["options"]] == ["en", "es"]
    assert await service.list_rooms() == []  # nothing saved until submitted


async def test_create_without_a_server_says_how_to_set_one_up(
    slack: HttpDriver, service: ConferenceService
) -> None:
    await service.delete_server("t")
    await slack.command("create")
    call = await slack.fake.wait_for("response_url")
    assert "There is no conference server yet" in call.args["text"]
    assert slack.fake.calls_to("views.open") == []


async def test_unknown_room_says_so(slack: HttpDriver) -> None:
    await slack.command("edit Nowhere")
    call = await slack.fake.wait_for("response_url")
    assert call.args["text"].startswith('There is no room named or numbered "Nowhere".')


async def test_help_buttons_list_and_create(slack: HttpDriver, service: ConferenceService) -> None:
    await service.create_room(name="Board", conference_id="4242", actor="t")
    await slack.click("help_list", "", user=ALICE, channel="CGENERAL")
    listed = await slack.fake.wait_for("response_url")
    assert listed.args["replace_original"] is False
    assert "Board" in listed.args["text"]

    await slack.click("help_create", "", user=ALICE, channel="CGENERAL")
    opened = await slack.fake.wait_for("views.open")
    assert opened.args["view"]["callback_id"] == "room_create"
    assert '"channel": "CGENERAL"' in opened.args["view"]["private_metadata"]


async def test_a_refusal_after_the_ack_does_not_hold_up_the_answer(slack: HttpDriver) -> None:
    started = time.monotonic()
    reply = await slack.command("info Nowhere")
    assert (reply.status, reply.body) == (200, "")
    assert time.monotonic() - started < 0.5  # not Bolt's 3-second ack timeout
    told = await slack.fake.wait_for("response_url")
    assert told.args["text"].startswith('There is no room named or numbered "Nowhere".')
