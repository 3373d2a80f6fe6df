"""Creating and editing rooms through modals, with Slack's inline errors."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.views import View

from bot.service import ConferenceService
from tests.commands.conftest import ALICE, CHANNEL, HttpDriver


async def open_modal(slack: HttpDriver, text: str) -> dict[str, Any]:
    before = len(slack.fake.calls_to("views.open"))
    await slack.command(text)
    call = await slack.fake.wait_for("views.open", count=before + 1)
    view: dict[str, Any] = call.args["view"]
    View(**view).validate_json()
    return view


async def test_create_through_the_modal(slack: HttpDriver, service: ConferenceService) -> None:
    view = await open_modal(slack, "create")
    reply = await slack.submit(
        view,
        {"name": "Team sync", "conference_id": "4242", "pin": "1234", "language": "es"},
        user=ALICE,
    )
    assert (reply.status, reply.body) == (200, "")  # the modal closes
    room = await service.get_room("4242")
    assert (room.name, room.pin, room.max_participants, room.language) == (
        "Team sync",
        "1234",
        10,
        "es",
    )
    assert room.created_by == f"slack:{ALICE}"
    confirm = await slack.fake.wait_for("chat.postEphemeral")
    assert confirm.args["channel"] == CHANNEL and confirm.args["user"] == ALICE
    assert "Team sync" in confirm.args["text"] and "1234" not in confirm.args["text"]


async def test_invalid_input_shows_inline_and_saves_nothing(
    slack: HttpDriver, service: ConferenceService
) -> None:
    view = await open_modal(slack, "create")
    reply = await slack.submit(
        view,
        {"name": "", "conference_id": "12", "pin": "12ab", "max_participants": "11"},
        user=ALICE,
    )
    assert reply.status == 200
    assert reply.body["response_action"] == "errors"
    errors = reply.body["errors"]
    assert set(errors) == {"name", "conference_id", "pin", "max_participants"}
    assert errors["name"] == "The room name cannot be empty."
    assert errors["conference_id"].startswith("The conference ID must be 3 to 10 digits")
    assert errors["pin"] == "The PIN must be 4 to 10 digits, or left empty for no PIN."
    assert errors["max_participants"].startswith("The participant limit must be")
    input_blocks = {b["block_id"] for b in view["blocks"] if b["type"] == "input"}
    assert set(errors) <= input_blocks  # Slack only shows errors keyed by input blocks
    assert await service.list_rooms() == []
    assert [e.action for e in await service.audit_log()] == ["server.create"]


async def test_taken_name_and_id_show_inline(slack: HttpDriver, service: ConferenceService) -> None:
    await service.create_room(name="Board", conference_id="4242", actor="t")
    view = await open_modal(slack, "create")
    reply = await slack.submit(view, {"name": "board", "conference_id": "4242"}, user=ALICE)
    assert reply.body["errors"] == {
        "name": 'A room named "Board" already exists; choose another name.',
        "conference_id": 'Conference ID 4242 is already used by room "Board"; choose another.',
    }
    reply = await slack.submit(view, {"name": "Other", "conference_id": "800"}, user=ALICE)
    assert reply.body["errors"] == {
        "conference_id": "Conference ID 800 is the conference server's own extension; "
        "choose another."
    }
    assert [r.name for r in await service.list_rooms()] == ["Board"]


async def test_room_limit_shows_on_the_name(slack: HttpDriver, service: ConferenceService) -> None:
    service.max_rooms = 1
    await service.create_room(name="Board", conference_id="4242", actor="t")
    view = await open_modal(slack, "create")
    reply = await slack.submit(view, {"name": "Second"}, user=ALICE)
    assert reply.body["errors"]["name"].startswith("This conference server already has 1 rooms")


async def test_edit_renames_and_re_pins(slack: HttpDriver, service: ConferenceService) -> None:
    room = await service.create_room(
        name="Board", conference_id="4242", pin="1111", actor=f"slack:{ALICE}"
    )
    view = await open_modal(slack, "edit board")
    by_id = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert by_id["name"]["element"]["initial_value"] == "Board"
    assert "initial_value" not in by_id["pin"]["element"]  # the PIN is never sent back
    assert "1111" not in str(view)
    assert "remove_pin" in by_id

    reply = await slack.submit(
        view, {"name": "Board room", "conference_id": "4343", "pin": "2222"}, user=ALICE
    )
    assert (reply.status, reply.body) == (200, "")
    after = await service.get_room_by_id(room.id)
    assert (after.name, after.conference_id, after.pin) == ("Board room", "4343", "2222")
    assert (await service.audit_log(1))[0].summary == (
        'Changed room "Board": name "Board" -> "Board room"; conference ID 4242 -> 4343; '
        "PIN changed"
    )

    # Leaving the PIN empty keeps it; ticking the box removes it.
    view = await open_modal(slack, "edit 4343")
    await slack.submit(view, {}, user=ALICE)
    assert (await service.get_room_by_id(room.id)).pin == "2222"
    await slack.submit(view, {"remove_pin": True}, user=ALICE)
    assert (await service.get_room_by_id(room.id)).pin is None


async def test_edit_errors_inline(slack: HttpDriver, service: ConferenceService) -> None:
    room = await service.create_room(
        name="Board", conference_id="4242", pin="1111", actor=f"slack:{ALICE}"
    )
    view = await open_modal(slack, "edit Board")
    reply = await slack.submit(view, {"pin": "3333", "remove_pin": True}, user=ALICE)
    assert reply.body == {
        "response_action": "errors",
        "errors": {"pin": "Type a new PIN or tick Remove the PIN, not both."},
    }
    reply = await slack.submit(view, {"pin": "33"}, user=ALICE)
    assert reply.body["errors"] == {
        "pin": "The PIN must be 4 to 10 digits, or left empty for no PIN."
    }
    assert (await service.get_room_by_id(room.id)).pin == "1111"


async def test_edit_of_a_room_deleted_meanwhile(
    slack: HttpDriver, service: ConferenceService
) -> None:
    await service.create_room(name="Board", conference_id="4242", actor=f"slack:{ALICE}")
    view = await open_modal(slack, "edit Board")
    await service.delete_room("Board", actor="t")
    reply = await slack.submit(view, {"name": "New"}, user=ALICE)
    assert reply.body["response_action"] == "errors"
    assert reply.body["errors"]["name"].startswith("That room no longer exists")
    assert await service.list_rooms() == []
