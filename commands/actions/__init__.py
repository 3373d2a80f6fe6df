"""Buttons: one listener per file."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from commands.actions import (
    approve,
    create_room,
    delete_room,
    deny,
    edit_room,
    list_rooms,
    server_delete,
    share_room,
)
from commands.context import SlackContext


def register(app: AsyncApp, ctx: SlackContext) -> None:
    for module in (
        create_room,
        list_rooms,
        edit_room,
        share_room,
        delete_room,
        approve,
        deny,
        server_delete,
    ):
        module.register(app, ctx)
