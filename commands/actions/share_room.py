"""The "Share dial-in card" button of a room on the Home tab: pick a channel, PIN or not."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from commands import ids, render
from commands.context import SlackContext
from commands.errors import guard


def register(app: AsyncApp, ctx: SlackContext) -> None:
    async def share_room(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        room = await ctx.deps.service.get_room_by_id(int(action["value"]))
        view = render.share_modal(room, channel=None)
        await client.views_open(trigger_id=body["trigger_id"], view=view)

    app.action(ids.ROOM_SHARE)(guard(share_room))
