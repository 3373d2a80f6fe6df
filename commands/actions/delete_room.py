"""The "Request deletion" button of a room on the Home tab: the confirm modal."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.models import Role
from commands import ids, render
from commands.context import SlackContext, actor
from commands.errors import guard


def register(app: AsyncApp, ctx: SlackContext) -> None:
    async def delete_room(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        room = await ctx.deps.service.get_room_by_id(int(action["value"]))
        user = body["user"]["id"]
        role = await ctx.role(user)
        await ctx.deps.service.refuse_guest(actor(user), role, "ask to delete rooms", room.name)
        admin = role is Role.ADMIN
        view = render.delete_modal(
            room,
            ctx.deps.tracker.count(room.id),
            ctx.pbx_online,
            admin=admin,
            metadata={"room_id": room.id},
        )
        await client.views_open(trigger_id=body["trigger_id"], view=view)

    app.action(ids.ROOM_DELETE)(guard(delete_room))
