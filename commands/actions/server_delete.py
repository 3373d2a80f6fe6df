"""The confirm button of ``/conference server delete`` (admins): the CLI's rules and guidance."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from commands import ids
from commands.context import SlackContext, actor
from commands.errors import guard


def register(app: AsyncApp, ctx: SlackContext) -> None:
    async def server_delete(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        user = body["user"]["id"]
        if not await ctx.admins.is_admin(user):
            await ctx.deps.service.record(
                actor(user), "slack.refused", "server", "Not an admin: delete the server"
            )
            await respond(
                text="Only admins can delete the conference server.",
                response_type="ephemeral",
                replace_original=False,
            )
            return
        await ctx.deps.service.delete_server(actor(user))
        await respond(
            text="Conference server deleted.", response_type="ephemeral", replace_original=True
        )

    app.action(ids.CONFIRM_SERVER_DELETE)(guard(server_delete))
