"""Admit and Refuse on the message about a caller waiting in a room's lobby: one listener,
two decisions.

Only the room's owners and the admins may decide (the service checks, and audits anyone
else's click); the decision is written to the PBX, and the message shows who decided once
the dialplan let the caller in or sent them away (``commands.lobby.LobbyDesk``). Problems
(someone was quicker, the caller hung up, the PBX is unreachable) come back as an
ephemeral message; nothing is decided then.
"""

from __future__ import annotations

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot import errors
from commands.blocks.kit import esc
from commands.context import Payload, SlackContext, actor

ADMIT, REFUSE = True, False


async def lobby_decide(
    ctx: SlackContext,
    admit: bool,
    ack: AsyncAck,
    body: Payload,
    action: Payload,
    respond: AsyncRespond,
) -> None:
    await ack()
    user = body["user"]["id"]
    value = str(action.get("value") or "")
    if not value.isdigit():
        await respond(text="That button is out of date; nothing was decided.",
                      response_type="ephemeral", replace_original=False)  # fmt: skip
        return
    role = await ctx.role(user)
    try:
        await ctx.deps.service.decide_lobby(int(value), admit, gate=ctx.deps.lobby,
                                            actor=actor(user), role=role)  # fmt: skip
    except errors.DomainError as exc:
        await respond(text=esc(exc.message), response_type="ephemeral", replace_original=False)
