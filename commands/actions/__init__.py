"""Buttons: one listener per file, registered here (Approve and Deny share ``decide``)."""

from __future__ import annotations

from functools import partial

from slack_bolt.async_app import AsyncApp

from commands import ids
from commands.actions import roster
from commands.actions.create_room import create_room
from commands.actions.decide import APPROVE, DENY, decide
from commands.actions.delete_room import delete_room
from commands.actions.edit_room import edit_room
from commands.actions.list_rooms import list_rooms
from commands.actions.lobby import ADMIT, REFUSE, lobby_decide
from commands.actions.pin_entry import LOCK, UNLOCK, pin_entry
from commands.actions.server_delete import server_delete
from commands.actions.share_room import share_room
from commands.actions.web_join import join_from_browser
from commands.context import SlackContext
from commands.guard import guard


def register(app: AsyncApp, ctx: SlackContext) -> None:
    app.action(ids.HELP_CREATE)(guard(partial(create_room, ctx)))
    app.action(ids.HELP_LIST)(guard(partial(list_rooms, ctx)))
    app.action(ids.ROOM_EDIT)(guard(partial(edit_room, ctx)))
    app.action(ids.ROOM_SHARE)(guard(partial(share_room, ctx)))
    app.action(ids.ROOM_DELETE)(guard(partial(delete_room, ctx)))
    app.action(ids.APPROVE_DELETION)(guard(partial(decide, ctx, APPROVE)))
    app.action(ids.DENY_DELETION)(guard(partial(decide, ctx, DENY)))
    app.action(ids.CONFIRM_SERVER_DELETE)(guard(partial(server_delete, ctx)))
    app.action(ids.LOCK_PIN_ENTRY)(guard(partial(pin_entry, ctx, LOCK)))
    app.action(ids.UNLOCK_PIN_ENTRY)(guard(partial(pin_entry, ctx, UNLOCK)))
    app.action(ids.LOBBY_ADMIT)(guard(partial(lobby_decide, ctx, ADMIT)))
    app.action(ids.LOBBY_REFUSE)(guard(partial(lobby_decide, ctx, REFUSE)))
    app.action(ids.SHOW_PARTICIPANTS)(guard(partial(roster.show_participants, ctx)))
    app.action(ids.JOIN_FROM_BROWSER)(guard(partial(join_from_browser, ctx)))
    for action_id, what in roster.BUTTONS.items():
        app.action(action_id)(guard(partial(roster.roster_action, ctx, what)))
    # Not a button, but the roster's other half: a closed roster is no longer updated.
    app.view_closed(ids.ROSTER_VIEW)(guard(partial(roster.roster_closed, ctx)))
