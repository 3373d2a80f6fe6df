"""Modal submissions: one listener per file."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from commands.context import SlackContext
from commands.views import create_room, delete_room, edit_room, share_room


def register(app: AsyncApp, ctx: SlackContext) -> None:
    for module in (create_room, edit_room, delete_room, share_room):
        module.register(app, ctx)
