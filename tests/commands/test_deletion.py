"""Deleting a room: confirm, request, admins approve or deny in their channel."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.errors import RoomNotFound
from bot.models import RequestStatus, Room
from bot.repository import Repository
from bot.service import ConferenceService
from telephony.tracker import ParticipantTracker
from tests.commands.conftest import (
    ADMIN,
    ADMIN_CHANNEL,
    ALICE,
    CHANNEL,
    LISTED_ADMIN,
    HttpDriver,
    join,
)

BOB = "UBOB"


async def request_deletion(slack: HttpDriver, room: str, reason: str = "") -> dict[str, Any]:
    """Alice asks to delete ``room``; returns the request message posted to the admins."""
    await slack.command(f"delete {room}", user=ALICE)
    opened = await slack.fake.wait_for("views.open")
    View(**opened.args["view"]).validate_json()
    assert "Ask the admins to delete room" in str(opened.args["view"])
    reply = await slack.submit(opened.args["view"], {"reason": reason}, user=ALICE)
    assert (reply.status, reply.body) == (200, "")
    posted = await slack.fake.wait_for("chat.postMessage")
    return posted.args


async def test_request_goes_to_the_admins_channel(
    slack: HttpDriver, service: ConferenceService, tracker: ParticipantTracker
) -> None:
    room = await service.create_room(name="Board", conference_id="4242", pin="5555", actor="t")
    tracker.online = True
    for uid in ("a", "b", "c"):
        join(tracker, room.id, uid)

    message = await request_deletion(slack, "Board", reason="Project <ended>")
    assert message["channel"] == ADMIN_CHANNEL
    for block in Block.parse_all(message["blocks"]):
        block.validate_json()
    shown = str(message["blocks"])
    assert f"<@{ALICE}>" in shown and "*Board*" in shown and "`4242`" in shown
    assert "Project &lt;ended&gt;" in shown and "3 people in the call" in shown
    assert "5555" not in shown
    buttons = message["blocks"][2]["elements"]
    (request,) = await service.list_requests(RequestStatus.PENDING)
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("deletion_approve", str(request.id)),
        ("deletion_deny", str(request.id)),
    ]
    assert (request.requester, request.reason) == (f"slack:{ALICE}", "Project <ended>")
    told = await slack.fake.wait_for("chat.postEphemeral")
    assert (told.args["user"], told.args["channel"]) == (ALICE, CHANNEL)
    assert f"Request #{request.id}" in told.args["text"] and "with the admins" in told.args["text"]
    assert (await service.get_room("Board")).id == room.id  # nothing deleted yet


async def test_admin_approves_the_room_is_gone_and_everyone_is_told(
    slack: HttpDriver, service: ConferenceService
) -> None:
    await service.create_room(name="Board", conference_id="4242", actor="t")
    message = await request_deletion(slack, "Board")
    (request,) = await service.list_requests(RequestStatus.PENDING)
    posted = slack.fake.calls_to("chat.postMessage")[0]

    reply = await slack.click(
        "deletion_approve",
        str(request.id),
        user=ADMIN,
        channel=ADMIN_CHANNEL,
        message={"ts": "1700000001.000001", "text": message["text"]},
    )
    assert (reply.status, reply.body) == (200, "")
    updated = await slack.fake.wait_for("chat.update")
    assert (updated.args["channel"], updated.args["ts"]) == (ADMIN_CHANNEL, "1700000001.000001")
    decision = updated.args["blocks"][-1]["text"]["text"]
    assert decision == f"*Approved; the room is deleted* by <@{ADMIN}>."
    assert not any(b["type"] == "actions" for b in updated.args["blocks"])
    assert posted.args["channel"] == ADMIN_CHANNEL

    try:
        await service.get_room("Board")
        raise AssertionError("the room should be gone")
    except RoomNotFound:
        pass
    decided = await service.get_request(request.id)
    assert (decided.status, decided.decided_by) == (RequestStatus.APPROVED, f"slack:{ADMIN}")

    dm = await slack.fake.wait_for("chat.postMessage", lambda c: c.args["channel"] == "DUALICE")
    assert (
        dm.args["text"]
        == f"<@{ADMIN}> approved your request #{request.id}: room *Board* is deleted."
    )
    assert [c.args["users"] for c in slack.fake.calls_to("conversations.open")] == [ALICE]


async def test_non_admin_approve_is_refused_and_audited(
    slack: HttpDriver, service: ConferenceService
) -> None:
    await service.create_room(name="Board", conference_id="4242", actor="t")
    await request_deletion(slack, "Board")
    (request,) = await service.list_requests(RequestStatus.PENDING)

    await slack.click("deletion_approve", str(request.id), user=BOB, channel=ADMIN_CHANNEL)
    refused = await slack.fake.wait_for("response_url")
    assert refused.args["response_type"] == "ephemeral"
    assert refused.args["replace_original"] is False
    assert "Only workspace admins" in refused.args["text"]
    assert "Nothing changed" in refused.args["text"]

    assert (await service.get_room("Board")).name == "Board"
    assert (await service.get_request(request.id)).status is RequestStatus.PENDING
    entry = (await service.audit_log(1))[0]
    assert (entry.actor, entry.action, entry.target) == (
        f"slack:{BOB}",
        "deletion.approve_refused",
        f"request #{request.id}",
    )
    assert slack.fake.calls_to("chat.update") == []


async def test_admin_denies_and_the_requester_is_told(
    slack: HttpDriver, service: ConferenceService
) -> None:
    await service.create_room(name="Board", conference_id="4242", actor="t")
    await request_deletion(slack, "Board")
    (request,) = await service.list_requests(RequestStatus.PENDING)

    # A user in SLACK_ADMIN_USERS is an admin too.
    await slack.click("deletion_deny", str(request.id), user=LISTED_ADMIN, channel=ADMIN_CHANNEL)
    updated = await slack.fake.wait_for("chat.update")
    assert updated.args["blocks"][-1]["text"]["text"] == (
        f"*Denied; the room stays* by <@{LISTED_ADMIN}>."
    )
    dm = await slack.fake.wait_for("chat.postMessage", lambda c: c.args["channel"] == "DUALICE")
    assert "denied your request" in dm.args["text"]
    assert (await service.get_room("Board")).name == "Board"
    assert (await service.get_request(request.id)).status is RequestStatus.DENIED

    # A second click on the old message: told, and the message shows the real state.
    await slack.click("deletion_approve", str(request.id), user=ADMIN, channel=ADMIN_CHANNEL)
    told = await slack.fake.wait_for("response_url")
    assert told.args["text"] == (
        f"Deletion request #{request.id} was already denied by slack:{LISTED_ADMIN}."
    )
    again = await slack.fake.wait_for("chat.update", count=2)
    assert "Denied" in again.args["blocks"][-1]["text"]["text"]
    assert (await service.get_room("Board")).name == "Board"


async def test_an_admins_own_delete_confirms_but_needs_no_approver(
    slack: HttpDriver, service: ConferenceService
) -> None:
    await service.create_room(name="Board", conference_id="4242", actor="t")
    await slack.command("delete 4242", user=ADMIN)
    opened = await slack.fake.wait_for("views.open")
    assert "Delete room *Board*" in str(opened.args["view"])
    assert await service.list_rooms() != []  # asking is not deleting

    await slack.submit(opened.args["view"], {}, user=ADMIN)
    told = await slack.fake.wait_for("chat.postEphemeral")
    assert told.args["text"] == "Room *Board* is deleted."
    assert await service.list_rooms() == []
    assert await service.list_requests() == []
    assert slack.fake.calls_to("chat.postMessage") == []  # nothing for the admins to decide
    assert (await service.audit_log(1))[0].actor == f"slack:{ADMIN}"


async def test_second_request_for_the_same_room_is_refused(
    slack: HttpDriver, service: ConferenceService
) -> None:
    await service.create_room(name="Board", conference_id="4242", actor="t")
    await request_deletion(slack, "Board")
    await slack.command("delete Board", user=ALICE)
    opened = await slack.fake.wait_for("views.open", count=2)
    await slack.submit(opened.args["view"], {}, user=ALICE)
    told = await slack.fake.wait_for(
        "chat.postEphemeral", lambda c: "already has a deletion request" in c.args["text"]
    )
    assert told.args["user"] == ALICE
    assert len(await service.list_requests()) == 1


async def test_the_delete_modal_acts_on_the_room_it_was_opened_for(
    slack: HttpDriver, service: ConferenceService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the modal's submission and the delete, another process re-numbers the room
    and gives its old conference ID to a new room: the delete still hits the room shown."""
    board = await service.create_room(name="Board", conference_id="4242", actor="t")
    await slack.command("delete Board", user=LISTED_ADMIN)
    opened = await slack.fake.wait_for("views.open")

    other = ConferenceService(await Repository.open(service.repo.path))
    looked_up = service.get_room_by_id

    async def get_room_by_id(room_id: int) -> Room:
        room = await looked_up(room_id)
        await other.update_room(board.id, conference_id="4343", actor="other")
        await other.create_room(name="Newcomer", conference_id="4242", actor="other")
        return room

    monkeypatch.setattr(service, "get_room_by_id", get_room_by_id)
    await slack.submit(opened.args["view"], {"reason": ""}, user=LISTED_ADMIN)
    await slack.fake.wait_for("chat.postEphemeral")
    assert [r.name for r in await service.list_rooms()] == ["Newcomer"]
    await other.repo.close()
