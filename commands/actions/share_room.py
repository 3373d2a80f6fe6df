"""The "Share dial-in card" button of a room on the Home tab: pick a channel, PIN or not."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from commands import ids, render
from commands.context import SlackContext, actor
from commands.errors import guard


def register(app: AsyncApp, ctx: SlackContext) -> None:
    async def share_room(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        service = ctx.deps.service
        room = await service.get_room_by_id(int(action["value"]))
        user = body["user"]["id"]
        may = await service.may_manage(room.id, actor(user), await ctx.role(user))
        view = render.share_modal(room, channel=None, may_show_pin=may)
        await client.views_open(trigger_id=body["trigger_id"], view=view)

    app.action(ids.ROOM_SHARE)(guard(share_room))
