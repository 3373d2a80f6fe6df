"""The create modal submitted: create the room, or show what is wrong inline."""

from __future__ import annotations

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.models import Room
from commands import ids
from commands.blocks.kit import esc
from commands.context import Payload, SlackContext, actor
from commands.notify import metadata
from commands.views import state
from commands.views.room_form import fields, save, summary


def _ready(room: Room) -> str:
    return (
        f"Room *{esc(room.name)}* is ready: {summary(room)}. "
        f"Share it with `/conference info {room.conference_id}`."
    )


async def create_room(
    ctx: SlackContext, ack: AsyncAck, body: Payload, view: Payload, client: AsyncWebClient
) -> None:
    user = body["user"]["id"]
    write = ctx.deps.service.create_room(
        **fields(view),
        pin=state.text(view, ids.PIN_BLOCK) or None,
        language=state.text(view, ids.LANGUAGE_BLOCK) or "en",
        actor=actor(user),
        role=await ctx.role(user),
    )
    await save(ack, client, user, metadata(view).get("channel") or None, write, _ready)
