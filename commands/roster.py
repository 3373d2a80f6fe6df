"""The roster of a room's call in Slack: opening it, rendering it from the tracker, and what
``LiveCards`` keeps of each open one (``RosterWatch``) to update it as the call changes.

Whether the viewer sees full numbers and the buttons is decided when the roster opens (an
owner or admin of the room); the buttons themselves are checked again by the service on
every click, so a roster left open after someone lost ownership cannot act.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from slack_sdk.web.async_client import AsyncWebClient

from bot.models import Room
from commands.blocks.kit import View
from commands.blocks.roster import CallerLine, CallState, roster_view
from commands.context import SlackContext, actor
from telephony.tracker import ParticipantTracker

Mark = tuple[object, ...]


@dataclass(slots=True, eq=False)
class RosterWatch:
    """One open roster modal: whose it is, which room, what it last showed."""

    user_id: str
    room_id: int
    manager: bool  # full numbers and buttons
    seen: float = 0.0  # when the viewer last opened or used it (its TTL counts from here)
    notice: str | None = None  # the outcome of the viewer's last click, shown on top
    shown: Mark | None = field(default=None)  # what its last update showed (see ``roster_mark``)


def call_state(tracker: ParticipantTracker, room_id: int) -> CallState:
    state = tracker.room_state(room_id)
    return CallState(locked=state.locked, recording=state.recording)


RoomKey = tuple[str, str]


def room_key(room: Room) -> RoomKey:
    """What a roster shows of the room itself."""
    return (room.name, room.conference_id)


def roster_mark(tracker: ParticipantTracker, watch: RosterWatch, room: RoomKey | None) -> Mark:
    """Everything a roster shows, cheap to compare: a change that leaves it equal (a new
    PIN, a card retired) costs no views.update. ``room`` None: the room is gone."""
    return (tracker.participants(watch.room_id), tracker.room_state(watch.room_id),
            tracker.online, room, watch.notice)  # fmt: skip


def render_roster(
    tracker: ParticipantTracker, room: Room, watch: RosterWatch, *, footer: str | None = None
) -> View:
    people = [
        CallerLine(p, talking=p.talking, moderator=p.moderator)
        for p in tracker.participants(room.id)
    ]
    return roster_view(
        room,
        people,
        call_state(tracker, room.id),
        tracker.online,
        manager=watch.manager,
        notice=watch.notice,
        footer=footer,
    )


async def open_roster(
    ctx: SlackContext, client: AsyncWebClient, trigger_id: str, room: Room, user_id: str
) -> None:
    """Open the roster modal for ``user_id`` and keep it current while it is open."""
    service = ctx.deps.service
    manager = await service.may_manage(room.id, actor(user_id), await ctx.role(user_id))
    watch = RosterWatch(user_id, room.id, manager)
    tracker = ctx.deps.tracker
    view = render_roster(tracker, room, watch)
    watch.shown = roster_mark(tracker, watch, room_key(room))
    opened = await client.views_open(trigger_id=trigger_id, view=view)
    await ctx.homes.watch_roster(str(opened["view"]["id"]), watch)
