"""The edit modal submitted: save the changes, or show what is wrong inline."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.models import Room
from bot.service import UNSET
from commands import ids
from commands.blocks.kit import esc
from commands.context import Payload, SlackContext, actor
from commands.notify import metadata
from commands.views import state
from commands.views.room_form import fields, save, summary


def _saved(room: Room) -> str:
    return f"Room *{esc(room.name)}* saved: {summary(room)}."


async def _update(
    ctx: SlackContext, user: str, view: dict[str, Any], room_id: int, pin: str | None
) -> Room:
    service = ctx.deps.service
    current = await service.get_room_by_id(room_id)
    return await service.update_room(
        current.id,  # by id: another edit may have changed its name or conference ID
        **fields(view),
        actor=actor(user),
        pin=pin,
        language=state.text(view, ids.LANGUAGE_BLOCK) or current.language,
        role=await ctx.role(user),
    )


async def edit_room(
    ctx: SlackContext, ack: AsyncAck, body: Payload, view: Payload, client: AsyncWebClient
) -> None:
    user = body["user"]["id"]
    new_pin = state.text(view, ids.PIN_BLOCK)
    remove_pin = state.ticked(view, ids.REMOVE_PIN_BLOCK)
    if new_pin and remove_pin:
        await ack(
            response_action="errors",
            errors={ids.PIN_BLOCK: "Type a new PIN or tick Remove the PIN, not both."},
        )
        return
    pin: str | None = None if remove_pin else (new_pin or UNSET)
    meta = metadata(view)
    write = _update(ctx, user, view, int(meta["room_id"]), pin)
    await save(ack, client, user, meta.get("channel") or None, write, _saved)
