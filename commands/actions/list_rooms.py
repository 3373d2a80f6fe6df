"""The "List rooms" button of the help message."""

from __future__ import annotations

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from commands.context import SlackContext


async def list_rooms(ctx: SlackContext, ack: AsyncAck, respond: AsyncRespond) -> None:
    await ack()
    await respond(**await ctx.rooms.message(), replace_original=False)
