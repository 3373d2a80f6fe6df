"""The roster in Slack: "Show participants" from a card, the Home tab and ``/conference who``;
masked numbers for members, full numbers and buttons for owners and admins; forged clicks
refused and audited; open rosters following the tracker through the budget."""

from __future__ import annotations

import json
import time
from typing import Any

from slack_sdk.models.views import View

import commands.live_cards as live_cards
from bot.models import Room
from bot.service import ConferenceService
from commands import ids
from commands.blocks.roster import STOPPED
from commands.live_cards import LiveCards
from telephony.tracker import ParticipantTracker
from tests.commands.conftest import (
    ADMIN,
    ALICE,
    CHANNEL,
    HttpDriver,
    app_home_opened,
    block_actions,
    caller_event,
    eventually,
    join,
    leave,
    room_event,
)
from tests.commands.test_live_cards import live_line, post_card
from tests.fake_slack import TEAM, Call

NUMBER = "+15551234567"


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


async def board(service: ConferenceService, tracker: ParticipantTracker) -> Room:
    room = await service.create_room(name="Board <&>", conference_id="4242", actor="t")
    tracker.online = True
    join(tracker, room.id, "1700000000.1", NUMBER, name="Ana")
    join(tracker, room.id, "1700000000.2", "15559876543")  # named "Caller 15559876543"
    return room


async def open_who(slack: HttpDriver, room: str, user: str) -> Call:
    before = len(slack.fake.calls_to("views.open"))
    reply = await slack.command(f"who {room}", user=user)
    assert reply.status == 200
    return await slack.fake.wait_for("views.open", count=before + 1)


def opened_id(slack: HttpDriver, opened: Call) -> str:
    """The view ID the fake answered that views.open with."""
    return f"V{slack.fake.calls_to('views.open').index(opened) + 1:06d}"


def checked(view: dict[str, Any]) -> dict[str, Any]:
    """Slack's limits on a modal, as slack_sdk and Slack's documentation state them."""
    View(**view).validate_json()
    assert len(view["blocks"]) <= 100
    assert len(view.get("private_metadata", "")) <= 3000
    for block in view["blocks"]:
        if "text" in block:
            assert len(block["text"]["text"]) <= 3000
        for element in block.get("elements", []):
            assert len(element.get("value", "")) <= 2000
            assert len(element.get("action_id", "")) <= 255
    return view


def buttons(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]


def in_modal(action_id: str, value: str, *, user: str, view_id: str) -> dict[str, Any]:
    """A click on a button inside an open modal (no response_url, the view in the payload)."""
    payload = block_actions(action_id, value, user=user, response_url=None)
    payload["container"] = {"type": "view", "view_id": view_id}
    payload["view"] = {"id": view_id, "type": "modal", "callback_id": ids.ROSTER_VIEW,
                       "hash": "1.x", "private_metadata": ""}  # fmt: skip
    return payload


def to_view(view_id: str, predicate: Any = lambda _v: True) -> Any:
    return lambda c: c.args.get("view_id") == view_id and predicate(c.args["view"])


def updates(slack: HttpDriver, view_id: str) -> list[dict[str, Any]]:
    return [c.args["view"] for c in slack.fake.calls_to("views.update")
            if c.args.get("view_id") == view_id]  # fmt: skip


async def test_members_see_masked_numbers_and_no_buttons(
    slack: HttpDriver, service: ConferenceService, tracker: ParticipantTracker
) -> None:
    await board(service, tracker)
    view = checked((await open_who(slack, "4242", ALICE)).args["view"])
    shown = dumps(view)
    assert view["callback_id"] == ids.ROSTER_VIEW and view["notify_on_close"] is True
    assert "*Ana* (…4567)" in shown and "*Caller …6543*" in shown
    for digits in ("5551234567", "5559876543", "555123", "555987"):
        assert digits not in shown
    assert "Board &lt;&amp;&gt;" in shown  # the room name, escaped
    assert "2 people in the call" in shown
    assert buttons(view) == []


async def test_owners_and_admins_see_numbers_and_buttons(
    slack: HttpDriver, service: ConferenceService, tracker: ParticipantTracker
) -> None:
    room = await board(service, tracker)
    # An admin, from the "Show participants" button of a dial-in card.
    posted = await post_card(slack, service, "4242")
    accessory = posted.args["blocks"][0]["accessory"]
    assert (accessory["action_id"], accessory["value"]) == (ids.SHOW_PARTICIPANTS, str(room.id))
    await slack.click(ids.SHOW_PARTICIPANTS, str(room.id), user=ADMIN, channel=CHANNEL)
    view = checked((await slack.fake.wait_for("views.open")).args["view"])
    shown = dumps(view)
    assert f"*Ana* ({NUMBER})" in shown and "*Caller 15559876543*" in shown
    by_id: dict[str, list[dict[str, Any]]] = {}
    for element in buttons(view):
        by_id.setdefault(element["action_id"], []).append(element)
    assert [e["value"] for e in by_id[ids.ROSTER_MUTE]] == [
        f"{room.id}:1700000000.1", f"{room.id}:1700000000.2"]  # fmt: skip
    assert all("confirm" in e for e in by_id[ids.ROSTER_KICK] + by_id[ids.ROSTER_END])
    for action_id in (ids.ROSTER_MUTE_OTHERS, ids.ROSTER_LOCK, ids.ROSTER_RECORD_START):
        assert by_id[action_id][0]["value"] == str(room.id)

    # A member who owns the room, from the Home tab's "Participants" button.
    await service.add_owner(room.id, ALICE, actor="t")
    await slack.event(app_home_opened(ALICE))
    home = (await slack.fake.wait_for("views.publish")).args["view"]
    assert (ids.SHOW_PARTICIPANTS, str(room.id)) in [
        (e["action_id"], e.get("value")) for e in buttons(home)]  # fmt: skip
    await slack.click(ids.SHOW_PARTICIPANTS, str(room.id), user=ALICE)
    owned = checked((await slack.fake.wait_for("views.open", count=2)).args["view"])
    assert NUMBER in dumps(owned) and ids.ROSTER_KICK in dumps(owned)


async def test_ten_callers_and_moderators_fit(
    slack: HttpDriver, service: ConferenceService, tracker: ParticipantTracker
) -> None:
    room = await service.create_room(name="R" * 64, conference_id="4343", actor="t")
    tracker.online = True
    for n in range(14):  # 10 callers and 4 moderators (exempt from the limit)
        join(tracker, room.id, f"1700000000.{n:03d}", f"+1555000{n:04d}", name="N" * 80,
             moderator=n >= 10)  # fmt: skip
        caller_event(tracker, "ConfbridgeTalking", room.id, f"1700000000.{n:03d}",
                     TalkingStatus="on")  # fmt: skip
    room_event(tracker, "ConfbridgeLock", room.id)
    room_event(tracker, "ConfbridgeRecord", room.id)
    view = checked((await open_who(slack, "4343", ADMIN)).args["view"])
    shown = dumps(view)
    assert shown.count(":speaking_head_in_silhouette: talking") == 14
    assert shown.count(" · moderator") == 4
    assert ":lock: locked" in shown and ":red_circle: recording" in shown
    assert {e["action_id"] for e in buttons(view)} >= {ids.ROSTER_UNLOCK, ids.ROSTER_RECORD_STOP}
    assert len(view["blocks"]) == 1 + 1 + 1 + 2 * 14 + 1


async def test_forged_click_is_refused_and_audited(
    slack: HttpDriver, service: ConferenceService, tracker: ParticipantTracker
) -> None:
    room = await board(service, tracker)
    opened = await open_who(slack, "4242", ALICE)
    view_id = opened_id(slack, opened)
    value = f"{room.id}:1700000000.1"
    reply = await slack.interact(in_modal(ids.ROSTER_KICK, value, user=ALICE, view_id=view_id))
    assert reply.status == 200
    told = await slack.fake.wait_for("views.update", to_view(view_id))
    notice = told.args["view"]["blocks"][0]["text"]["text"]
    assert notice.startswith(":warning: Only the owners of room")
    assert "…4567" in dumps(told.args["view"])  # still masked
    assert tracker.count(room.id) == 2
    entries = await service.audit_log(5)
    assert any(e.actor == f"slack:{ALICE}" and e.action == "room.refused"
               and "remove callers" in e.summary for e in entries)  # fmt: skip

    # The same forged click from a message (no roster of hers): told ephemerally.
    await slack.click(ids.ROSTER_END, str(room.id), user=ALICE, channel=CHANNEL)
    answer = await slack.fake.wait_for("response_url")
    assert answer.args["response_type"] == "ephemeral"
    assert "Only the owners of room" in answer.args["text"]
    assert sum(e.action == "room.refused" for e in await service.audit_log(10)) == 2

    # A value no roster carries.
    await slack.interact(in_modal(ids.ROSTER_MUTE, "nonsense", user=ALICE, view_id=view_id))
    stale = await slack.fake.wait_for("views.update", to_view(view_id), count=2)
    assert "out of date" in stale.args["view"]["blocks"][0]["text"]["text"]


async def test_open_roster_follows_the_call_within_a_second(
    slack: HttpDriver, service: ConferenceService, tracker: ParticipantTracker, live: LiveCards
) -> None:
    room = await board(service, tracker)
    view_id = opened_id(slack, await open_who(slack, "4242", ADMIN))
    steps = [
        (lambda: join(tracker, room.id, "1700000000.3", "+4930123456", name="Bea"), "Bea"),
        (
            lambda: caller_event(
                tracker, "ConfbridgeTalking", room.id, "1700000000.3", TalkingStatus="on"
            ),
            "talking",
        ),  # fmt: skip
        (lambda: caller_event(tracker, "ConfbridgeMute", room.id, "1700000000.1"), ":mute: muted"),
        (lambda: room_event(tracker, "ConfbridgeLock", room.id), ":lock: locked"),
        (lambda: room_event(tracker, "ConfbridgeRecord", room.id), ":red_circle: recording"),
    ]
    lags = []
    for count, (change, shows) in enumerate(steps, start=1):
        await live.wait_idle()
        started = time.monotonic()
        change()
        done = await slack.fake.wait_for("views.update", to_view(view_id), count=count)
        assert shows in dumps(done.args["view"])
        lags.append(done.at - started)
    print("event -> roster update (s):", " ".join(f"{lag:.3f}" for lag in lags))
    assert max(lags) < 1.0, lags
    last = updates(slack, view_id)[-1]
    assert ids.ROSTER_UNLOCK in dumps(last) and ids.ROSTER_RECORD_STOP in dumps(last)
    assert ids.ROSTER_UNMUTE in dumps(last)

    # Talking changes only the roster: no dial-in card edit, no Home tab for it.
    cards = len(slack.fake.calls_to("chat.update"))
    caller_event(tracker, "ConfbridgeTalking", room.id, "1700000000.3", TalkingStatus="off")
    await slack.fake.wait_for("views.update", to_view(view_id), count=len(steps) + 1)
    await live.wait_idle()
    assert len(slack.fake.calls_to("chat.update")) == cards


async def test_churn_is_coalesced_and_ends_on_the_truth(
    slack: HttpDriver, service: ConferenceService, tracker: ParticipantTracker, live: LiveCards
) -> None:
    room = await board(service, tracker)
    view_id = opened_id(slack, await open_who(slack, "4242", ADMIN))
    live.min_interval = 0.3
    started = time.monotonic()
    for n in range(60):
        uid = f"1700000001.{n % 7}"
        if any(p.uniqueid == uid for p in tracker.participants(room.id)):
            leave(tracker, room.id, uid)
        else:
            join(tracker, room.id, uid, f"+3360000{n:04d}", name=f"Churn {n}")
        caller_event(tracker, "ConfbridgeTalking", room.id, uid, TalkingStatus="on")
    await live.wait_idle()
    elapsed = time.monotonic() - started
    sent = updates(slack, view_id)
    assert 1 <= len(sent) <= elapsed / 0.3 + 2, (len(sent), elapsed)
    truth = tracker.participants(room.id)
    final = dumps(sent[-1])
    assert f"{len(truth)} people in the call" in final
    for person in truth:
        assert person.caller_id_num in final and person.caller_id_name in final


async def test_closed_gone_and_expired_rosters_are_forgotten(
    slack: HttpDriver, service: ConferenceService, tracker: ParticipantTracker, live: LiveCards
) -> None:
    room = await board(service, tracker)
    closed = opened_id(slack, await open_who(slack, "4242", ADMIN))
    gone = opened_id(slack, await open_who(slack, "4242", ALICE))
    expired = opened_id(slack, await open_who(slack, "4242", ADMIN))

    closing = {"type": "view_closed", "team": {"id": TEAM, "domain": "test"},
               "user": {"id": ADMIN, "team_id": TEAM}, "api_app_id": "A0TEST",
               "view": {"id": closed, "type": "modal", "callback_id": ids.ROSTER_VIEW},
               "is_cleared": False}  # fmt: skip
    assert (await slack.interact(closing)).status == 200
    await eventually(lambda: _async(closed not in live._rosters))
    slack.fake.closed_views.add(gone)  # closed without a view_closed reaching us
    live._rosters[expired].seen -= live_cards.ROSTER_TTL + 1

    join(tracker, room.id, "1700000000.9", "+441234567890")
    last = await slack.fake.wait_for("views.update", to_view(expired))
    assert STOPPED in dumps(last.args["view"])
    await slack.fake.wait_for("views.update", to_view(gone))
    await live.wait_idle()
    assert live._rosters == {}
    before = len(slack.fake.calls_to("views.update"))
    leave(tracker, room.id, "1700000000.9")
    await live.wait_idle()
    assert len(slack.fake.calls_to("views.update")) == before
    assert updates(slack, closed) == []


async def test_deleted_room_ends_its_rosters(
    slack: HttpDriver, service: ConferenceService, tracker: ParticipantTracker, live: LiveCards
) -> None:
    room = await board(service, tracker)
    view_id = opened_id(slack, await open_who(slack, "4242", ADMIN))
    await service.delete_room(room.id, actor="t")
    last = await slack.fake.wait_for("views.update", to_view(view_id))
    assert "this room was deleted" in dumps(last.args["view"])
    await live.wait_idle()
    assert live._rosters == {}


async def test_card_shows_locked_and_recording(
    slack: HttpDriver, service: ConferenceService, tracker: ParticipantTracker, live: LiveCards
) -> None:
    room = await board(service, tracker)
    posted = await post_card(slack, service, "4242")
    assert live_line(posted) == ":telephone_receiver: 2 people in the call"
    room_event(tracker, "ConfbridgeLock", room.id)
    room_event(tracker, "ConfbridgeRecord", room.id)
    marked = ":telephone_receiver: 2 people in the call · :lock: locked · :red_circle: recording"
    await slack.fake.wait_for("chat.update", lambda c: live_line(c) == marked)
    room_event(tracker, "ConfbridgeUnlock", room.id)
    room_event(tracker, "ConfbridgeStopRecord", room.id)
    await slack.fake.wait_for(
        "chat.update", lambda c: live_line(c) == ":telephone_receiver: 2 people in the call"
    )


async def _async(value: bool) -> bool:
    return value
