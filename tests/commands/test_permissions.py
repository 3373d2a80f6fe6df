"""Who may do what from Slack: one workspace, admins, room owners, members and guests.

Every drill goes through the running app with signed requests, as Slack would send them; the
fake's ``users.info`` says who each person is.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from slack_sdk.models.views import View

from bot.models import RequestStatus
from bot.service import ConferenceService
from commands import ids
from tests.commands.conftest import (
    ADMIN,
    ALICE,
    CHANNEL,
    LISTED_ADMIN,
    HttpDriver,
    block_actions,
    slash_command,
    view_submission,
)
from tests.fake_slack import TEAM, Call, FakeSlack

BOB = "UBOB"
GUEST = "UGUEST"
OUTSIDER = "UOUTSIDER"  # an admin of another team
STARTUP = {"auth.test", "apps.connections.open", "users.info"}


def sent(fake: FakeSlack) -> list[str]:
    return [c.method for c in fake.calls if c.method not in STARTUP]


async def audit_actions(service: ConferenceService) -> list[str]:
    return [e.action for e in await service.audit_log(100)]


# -- one workspace -----------------------------------------------------------------------------


def _command(fake: FakeSlack, text: str, user: str, **fields: str) -> dict[str, str]:
    form = slash_command(text, user=user, channel=CHANNEL, response_url=fake.response_url())
    return {**form, **fields}


@pytest.mark.parametrize(
    "fields",
    [{"team_id": "TOTHER"}, {"enterprise_id": "EOTHER"}, {"team_id": ""}],
    ids=["other team", "other enterprise", "no team"],
)
async def test_a_command_from_another_workspace_is_refused_and_audited(
    slack: HttpDriver, service: ConferenceService, fields: dict[str, str]
) -> None:
    from urllib.parse import urlencode

    slack.fake.profiles[OUTSIDER] = {"team_id": "TOTHER", "is_admin": True}
    form = _command(slack.fake, "setup 900", OUTSIDER, **fields)
    reply = await slack.signed(urlencode(form), "application/x-www-form-urlencoded")
    assert reply.status == 200
    assert "another Slack workspace" in str(reply.body)
    server = await service.get_server()
    assert server is not None and server.extension == "800"
    assert "slack.refused" in await audit_actions(service)
    assert sent(slack.fake) == []


async def test_a_button_from_another_team_or_a_shared_channel_user_is_refused(
    slack: HttpDriver, service: ConferenceService
) -> None:
    room = await service.create_room(name="Board", conference_id="4242", actor="t")
    request = await service.request_deletion("Board", requester=f"slack:{ALICE}")
    slack.fake.admins.add(OUTSIDER)
    slack.fake.profiles[OUTSIDER] = {"team_id": "TOTHER"}
    for team, user_team in [("TOTHER", "TOTHER"), (TEAM, "TOTHER")]:
        payload = block_actions(
            ids.APPROVE_DELETION, str(request.id), user=OUTSIDER, response_url=None
        )
        payload["team"] = {"id": team, "domain": "x"}
        payload["user"]["team_id"] = user_team
        reply = await slack.interact(payload)
        assert reply.status == 200
    assert (await service.get_request(request.id)).status is RequestStatus.PENDING
    assert (await service.get_room_by_id(room.id)).name == "Board"
    assert (await audit_actions(service)).count("slack.refused") == 2


async def test_an_admin_of_another_team_is_not_our_admin(
    slack: HttpDriver, service: ConferenceService
) -> None:
    # The request names our team (a Slack Connect channel), users.info says another team.
    slack.fake.admins.add(OUTSIDER)
    slack.fake.profiles[OUTSIDER] = {"team_id": "TOTHER"}
    await slack.command("setup 900", user=OUTSIDER)
    said = await slack.fake.wait_for("response_url")
    assert "Only workspace admins" in said.args["text"]
    server = await service.get_server()
    assert server is not None and server.extension == "800"


def refusal(call: Call) -> bool:
    text = str(call.args.get("text", ""))
    return "cannot" in text or "Only the owners" in text


# -- guests ------------------------------------------------------------------------------------


async def test_guests_list_rooms_and_post_cards_without_the_pin_and_nothing_more(
    slack: HttpDriver, service: ConferenceService
) -> None:
    slack.fake.profiles[GUEST] = {"is_restricted": True}
    await service.create_room(name="Board", conference_id="4242", pin="9876", actor="t")

    listed = (await slack.command("list", user=GUEST)).body
    assert "Board" in listed["text"]

    await slack.command("info Board", user=GUEST)  # no modal offering the PIN: posted at once
    posted = await slack.fake.wait_for("chat.postMessage")
    assert "9876" not in json.dumps(posted.args)
    assert "ask the organiser" in json.dumps(posted.args)
    assert slack.fake.calls_to("views.open") == []

    for n, text in enumerate(("create Sneaky", "edit Board", "delete Board"), start=1):
        await slack.command(text, user=GUEST)
        await slack.fake.wait_for("response_url", refusal, count=n)
    assert slack.fake.calls_to("views.open") == []
    assert [r.name for r in await service.list_rooms()] == ["Board"]
    assert await service.list_requests() == []
    actions = await audit_actions(service)
    assert actions.count("guest.refused") == 2 and actions.count("room.refused") == 1


# -- room owners -------------------------------------------------------------------------------


async def test_a_member_cannot_edit_or_show_the_pin_of_a_room_they_do_not_own(
    slack: HttpDriver, service: ConferenceService
) -> None:
    room = await service.create_room(name="Board", conference_id="4242", pin="9876", actor="t")

    await slack.command("edit Board", user=ALICE)
    said = await slack.fake.wait_for("response_url")
    assert "Only the owners of room" in said.args["text"]
    assert slack.fake.calls_to("views.open") == []

    # A forged submission of the edit modal (private_metadata names the room) saves nothing.
    edit_view = {
        "callback_id": ids.EDIT_VIEW,
        "title": {"type": "plain_text", "text": "Edit room"},
        "private_metadata": json.dumps({"room_id": room.id}),
        "blocks": [],
    }
    payload = view_submission(edit_view, {}, user=ALICE)
    payload["view"]["state"]["values"] = {
        ids.NAME_BLOCK: {ids.INPUT: {"type": "plain_text_input", "value": "Board"}},
        ids.CONFERENCE_ID_BLOCK: {ids.INPUT: {"type": "plain_text_input", "value": "4242"}},
        ids.PIN_BLOCK: {ids.INPUT: {"type": "plain_text_input", "value": None}},
        ids.LIMIT_BLOCK: {ids.INPUT: {"type": "plain_text_input", "value": "10"}},
        ids.REMOVE_PIN_BLOCK: {
            ids.INPUT: {"type": "checkboxes", "selected_options": [{"value": "remove"}]}
        },
    }
    reply = await slack.interact(payload)
    assert reply.body["response_action"] == "errors"
    assert (await service.get_room_by_id(room.id)).pin == "9876"

    # The share modal offers no PIN box, and a forged "include the PIN" posts nothing.
    await slack.click(ids.ROOM_SHARE, str(room.id), user=ALICE)
    share = (await slack.fake.wait_for("views.open")).args["view"]
    View(**share).validate_json()
    assert ids.INCLUDE_PIN_BLOCK not in json.dumps(share)
    forged = view_submission(share, {"channel": CHANNEL}, user=ALICE)
    forged["view"]["state"]["values"][ids.INCLUDE_PIN_BLOCK] = {
        ids.INPUT: {"type": "checkboxes", "selected_options": [{"value": "include"}]}
    }
    await slack.interact(forged)
    told = await slack.fake.wait_for("chat.postMessage")  # a DM: the modal had no channel
    assert "Only the owners of room" in told.args["text"]
    assert "9876" not in json.dumps([c.args for c in slack.fake.calls])
    assert (await audit_actions(service)).count("room.refused") == 3


async def test_the_creator_owns_a_room_and_admins_can_add_owners(
    slack: HttpDriver, service: ConferenceService
) -> None:
    await slack.command("create", user=ALICE)
    view = (await slack.fake.wait_for("views.open")).args["view"]
    await slack.submit(
        view, {"name": "Alice's", "conference_id": "5151", "pin": "2468"}, user=ALICE
    )
    room = await service.get_room("5151")
    assert [o.owner for o in await service.owners(room.id)] == [f"slack:{ALICE}"]

    # The owner may share the PIN.
    await slack.command("info 5151", user=ALICE)
    share = (await slack.fake.wait_for("views.open", count=2)).args["view"]
    assert ids.INCLUDE_PIN_BLOCK in json.dumps(share)

    # Bob may not edit until an admin makes him an owner.
    assert not await service.may_manage(room.id, f"slack:{BOB}", await _role(slack, BOB))
    await service.add_owner(room.id, f"<@{BOB}>", actor=f"slack:{ADMIN}")
    assert await service.may_manage(room.id, f"slack:{BOB}", await _role(slack, BOB))
    await slack.command("edit 5151", user=BOB)
    await slack.fake.wait_for("views.open", count=3)


async def _role(slack: HttpDriver, user: str) -> Any:
    from slack_sdk.web.async_client import AsyncWebClient

    from commands.admins import AdminDirectory

    directory = AdminDirectory(AsyncWebClient(token="xoxb-x", base_url=slack.fake.api_url))
    return await directory.role(user)


# -- escaping ----------------------------------------------------------------------------------

EVIL = "<!channel> <@U123> <https://evil.example|x>"
RAW_TOKENS = ("<!channel>", "<@U123>", "<https://evil.example")


async def test_a_hostile_room_name_never_reaches_slack_raw(
    slack: HttpDriver, service: ConferenceService
) -> None:
    """Through every message kind: list, card, Home tab, deletion request and decision,
    confirmations, deleted card, and error messages that echo the name."""
    slack.fake.admins.add(ADMIN)
    await slack.command("create", user=ALICE)
    view = (await slack.fake.wait_for("views.open")).args["view"]
    await slack.submit(view, {"name": EVIL, "conference_id": "5151"}, user=ALICE)
    room = await service.get_room("5151")
    assert room.name == EVIL

    listed = (await slack.command("list", user=ALICE)).body
    await slack.command("info 5151", user=ALICE)
    await slack.fake.wait_for("chat.postMessage")
    from tests.commands.conftest import app_home_opened

    await slack.event(app_home_opened(ALICE))
    await slack.fake.wait_for("views.publish")
    await slack.command("delete 5151", user=ALICE)
    opened = await slack.fake.wait_for("views.open", count=2)
    await slack.submit(opened.args["view"], {"reason": EVIL}, user=ALICE)
    posted = await slack.fake.wait_for("chat.postMessage", count=2)
    await slack.command("delete 5151", user=ALICE)  # already pending: the error names the room
    opened = await slack.fake.wait_for("views.open", count=3)
    await slack.submit(opened.args["view"], {"reason": "again"}, user=ALICE)
    (request,) = await service.list_requests(RequestStatus.PENDING)
    await slack.click(
        ids.APPROVE_DELETION, str(request.id), user=ADMIN, channel="CADMINS", message=posted.args
    )
    await slack.fake.wait_for("chat.update")
    await slack.fake.wait_for("chat.postMessage", count=3)  # the requester is told

    everything = json.dumps([listed] + [c.args for c in slack.fake.calls], ensure_ascii=False)
    assert "&lt;!channel&gt;" in everything
    sent = [listed] + [c.args for c in slack.fake.calls]  # the list is in its acknowledgement
    for token in RAW_TOKENS:
        leaks = [args for args in sent if token in json.dumps(args, ensure_ascii=False)]
        assert not leaks, (token, leaks)


async def test_a_listed_admin_is_no_admin_once_deactivated_or_of_another_team(
    slack: HttpDriver, service: ConferenceService
) -> None:
    # Both are in SLACK_ADMIN_USERS (see conftest.environ).
    slack.fake.profiles["UOTHER"] = {"team_id": "TOTHER"}
    slack.fake.profiles[LISTED_ADMIN] = {"deleted": True}
    for n, user in enumerate(["UOTHER", LISTED_ADMIN], start=1):
        await slack.command("setup 900", user=user)
        said = await slack.fake.wait_for("response_url", count=n)
        assert "Only workspace admins" in said.args["text"]
    server = await service.get_server()
    assert server is not None and server.extension == "800"


async def test_an_unknown_subcommand_is_echoed_escaped(slack: HttpDriver) -> None:
    reply = await slack.command("<!channel> now", user=ALICE)
    assert "&lt;!channel&gt;" in reply.body["text"] and "<!channel>" not in reply.body["text"]
