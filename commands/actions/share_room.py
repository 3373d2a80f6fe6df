"""The "Share dial-in card" button of a room on the Home tab: pick a channel, PIN or not."""

from __future__ import annotations

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from commands.blocks.modals import share_modal
from commands.context import Payload, SlackContext, actor


async def share_room(
    ctx: SlackContext, ack: AsyncAck, body: Payload, action: Payload, client: AsyncWebClient
) -> None:
    await ack()
    service = ctx.deps.service
    room = await service.get_room_by_id(int(action["value"]))
    user = body["user"]["id"]
    may = await service.may_manage(room.id, actor(user), await ctx.role(user))
    view = share_modal(room, channel=None, may_show_pin=may)
    await client.views_open(trigger_id=body["trigger_id"], view=view)
