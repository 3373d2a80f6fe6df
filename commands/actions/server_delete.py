"""The confirm button of ``/conference server delete`` (admins): the server goes, or the
person learns what must go first."""

from __future__ import annotations

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from commands.context import Payload, SlackContext, actor
from commands.permissions import require_admin


async def server_delete(
    ctx: SlackContext, ack: AsyncAck, body: Payload, respond: AsyncRespond
) -> None:
    await ack()
    user = body["user"]["id"]
    if not await require_admin(ctx, user, respond, "delete the conference server"):
        return
    await ctx.deps.service.delete_server(actor(user))
    await respond(
        text="Conference server deleted.", response_type="ephemeral", replace_original=True
    )
