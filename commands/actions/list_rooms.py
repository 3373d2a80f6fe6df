"""The "List rooms" button of the help message."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from commands import ids, render
from commands.context import SlackContext
from commands.errors import guard


def register(app: AsyncApp, ctx: SlackContext) -> None:
    async def list_rooms(ack: AsyncAck, respond: AsyncRespond) -> None:
        await ack()
        service = ctx.deps.service
        message = render.room_list(
            await service.list_rooms(),
            ctx.deps.tracker.counts(),
            ctx.pbx_online,
            await service.get_server(),
        )
        await respond(**message, replace_original=False)

    app.action(ids.HELP_LIST)(guard(list_rooms))
