"""The share modal submitted: post the dial-in card where the poster chose."""

from __future__ import annotations

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from commands import cards, ids
from commands.context import Payload, SlackContext
from commands.notify import metadata, tell
from commands.views import state


async def share_room(
    ctx: SlackContext, ack: AsyncAck, body: Payload, view: Payload, client: AsyncWebClient
) -> None:
    channel = state.text(view, ids.CHANNEL_BLOCK)
    if not channel:
        await ack(response_action="errors", errors={ids.CHANNEL_BLOCK: "Pick a channel."})
        return
    await ack()
    user = body["user"]["id"]
    room = await ctx.deps.service.get_room_by_id(int(metadata(view)["room_id"]))
    problem = await cards.post_card(
        ctx,
        client,
        room,
        channel=channel,
        include_pin=state.ticked(view, ids.INCLUDE_PIN_BLOCK),
        user_id=user,
    )
    if problem:
        await tell(client, user, problem)
