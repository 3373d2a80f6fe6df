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
from bot.models import Role
from commands.blocks.kit import esc, parse_id, shown_value
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
    service, who = ctx.deps.service, actor(user)
    value = str(action.get("value") or "")
    request_id = parse_id(value)
    role = await ctx.role(user)
    try:
        if request_id is None:
            raise errors.InvalidInput("That button is out of date; nothing was decided.")
        await service.decide_lobby(request_id, admit, gate=ctx.deps.lobby, actor=who,
                                   role=role)  # fmt: skip
    except errors.DomainError as exc:
        if not isinstance(exc, errors.NotAllowed):  # that one is audited already
            why = (f"a value no lobby message carries, {shown_value(value)}"
                   if request_id is None else exc.message)  # fmt: skip
            await _audit_refusal(ctx, who, role, admit, request_id, why)
        await respond(text=esc(exc.message), response_type="ephemeral", replace_original=False)


async def _audit_refusal(
    ctx: SlackContext, who: str, role: Role, admit: bool, request_id: int | None, why: str
) -> None:
    """Audit a refused decision the service did not audit itself (it audits
    ``NotAllowed``): a replayed click, a caller gone, a forged value."""
    service = ctx.deps.service
    request = await service.lobby_request(request_id) if request_id is not None else None
    target = request.room_name if request is not None else "lobby"
    verb = "Admit" if admit else "Refuse"
    await service.record(who, "lobby.refused", target,
                         f"Refused ({role.value}) {verb} on lobby request "
                         f"{request_id if request_id is not None else '?'}: {why}")  # fmt: skip
