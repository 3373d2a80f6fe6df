"""Modal submissions: one listener per file, registered here."""

from __future__ import annotations

from functools import partial

from slack_bolt.async_app import AsyncApp

from commands import ids
from commands.context import SlackContext
from commands.guard import guard
from commands.views.create_room import create_room
from commands.views.delete_room import delete_room
from commands.views.edit_room import edit_room
from commands.views.share_room import share_room


def register(app: AsyncApp, ctx: SlackContext) -> None:
    app.view(ids.CREATE_VIEW)(guard(partial(create_room, ctx)))
    app.view(ids.EDIT_VIEW)(guard(partial(edit_room, ctx)))
    app.view(ids.DELETE_VIEW)(guard(partial(delete_room, ctx)))
    app.view(ids.SHARE_VIEW)(guard(partial(share_room, ctx)))
