"""The "Request deletion" button of a room on the Home tab: the confirm modal."""

from __future__ import annotations

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from commands.context import Payload, SlackContext
from commands.openers import open_delete


async def delete_room(
    ctx: SlackContext, ack: AsyncAck, body: Payload, action: Payload, client: AsyncWebClient
) -> None:
    await ack()
    room = await ctx.deps.service.get_room_by_id(int(action["value"]))
    await open_delete(ctx, client, body["user"]["id"], body["trigger_id"], None, room)
