"""The App Home tab: rooms with live counts and buttons, refreshed as counts change."""

from __future__ import annotations

from slack_sdk.models.views import View

from bot.service import ConferenceService
from commands.live_cards import LiveCards
from telephony.tracker import ParticipantTracker
from tests.commands.conftest import ALICE, HttpDriver, app_home_opened, eventually, join


async def test_home_tab_is_published_and_follows_counts(
    slack: HttpDriver, service: ConferenceService, tracker: ParticipantTracker, live: LiveCards
) -> None:
    room = await service.create_room(name="Board", conference_id="4242", pin="1234", actor="t")
    tracker.online = True
    reply = await slack.event(app_home_opened(ALICE))
    assert reply.status == 200

    published = await slack.fake.wait_for("views.publish")
    assert published.args["user_id"] == ALICE
    view = published.args["view"]
    View(**view).validate_json()
    shown = str(view)
    assert "*Board*" in shown and "nobody in the call" in shown and "1234" not in shown
    buttons = next(b for b in view["blocks"] if b.get("block_id") == f"room-{room.id}")
    assert [(e["action_id"], e["value"]) for e in buttons["elements"]] == [
        ("roster_show", str(room.id)),
        ("room_edit", str(room.id)),
        ("room_share", str(room.id)),
        ("room_delete", str(room.id)),
    ]

    join(tracker, room.id, "c1")
    again = await slack.fake.wait_for("views.publish", count=2)
    assert "1 person in the call" in str(again.args["view"])

    await service.create_room(name="Second", conference_id="5151", actor="t")
    third = await slack.fake.wait_for("views.publish", count=3)
    assert "*Second*" in str(third.args["view"])
    await live.wait_idle()


async def test_home_buttons_open_modals_and_share_posts_a_card(
    slack: HttpDriver, service: ConferenceService
) -> None:
    room = await service.create_room(name="Board", conference_id="4242", actor=f"slack:{ALICE}")

    reply = await slack.click("room_edit", str(room.id), user=ALICE)
    assert reply.status == 200
    edit = await slack.fake.wait_for("views.open")
    assert edit.args["view"]["callback_id"] == "room_edit"
    View(**edit.args["view"]).validate_json()

    await slack.click("room_delete", str(room.id), user=ALICE)
    delete = await slack.fake.wait_for("views.open", count=2)
    assert delete.args["view"]["callback_id"] == "room_delete"

    await slack.click("room_share", str(room.id), user=ALICE)
    share = await slack.fake.wait_for("views.open", count=3)
    View(**share.args["view"]).validate_json()
    await slack.submit(share.args["view"], {"channel": "CTEAM"}, user=ALICE)
    posted = await slack.fake.wait_for("chat.postMessage")
    assert posted.args["channel"] == "CTEAM"
    cards = await eventually(lambda: service.cards(room.id))
    assert [c.channel for c in cards] == ["CTEAM"]


async def test_home_errors_reach_the_user_by_dm(
    slack: HttpDriver, service: ConferenceService
) -> None:
    room = await service.create_room(name="Board", conference_id="4242", actor="t")
    await service.delete_room("Board", actor="t")
    await slack.click("room_edit", str(room.id), user=ALICE)
    dm = await slack.fake.wait_for("chat.postMessage")
    assert dm.args["channel"] == f"D{ALICE}"
    assert dm.args["text"] == "That room no longer exists; it may have been deleted."
    assert slack.fake.calls_to("views.open") == []
