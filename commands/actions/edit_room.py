"""The "Edit" button of a room on the Home tab: the edit modal."""

from __future__ import annotations

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from commands.context import Payload, SlackContext
from commands.openers import open_edit


async def edit_room(
    ctx: SlackContext, ack: AsyncAck, body: Payload, action: Payload, client: AsyncWebClient
) -> None:
    await ack()
    room_id = int(action["value"])
    await open_edit(ctx, client, body["user"]["id"], body["trigger_id"], None, room_id)
