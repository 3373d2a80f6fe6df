"""The "Create a room" button (help message and Home tab): the create modal."""

from __future__ import annotations

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from commands.context import Payload, SlackContext
from commands.openers import open_create


async def create_room(
    ctx: SlackContext, ack: AsyncAck, body: Payload, client: AsyncWebClient
) -> None:
    await ack()
    channel = (body.get("channel") or {}).get("id")  # none on the Home tab
    await open_create(ctx, client, body["user"]["id"], body["trigger_id"], channel)
