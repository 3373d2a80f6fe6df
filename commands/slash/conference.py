"""The ``/conference`` listener: help, usage and the room list go in the acknowledgement
itself; any other valid subcommand is acknowledged first and then run."""

from __future__ import annotations

from typing import Protocol

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from commands.blocks.kit import esc
from commands.blocks.messages import help_message, usage_message
from commands.context import Payload, SlackContext
from commands.slash import create, delete, edit, info, list_rooms, number, server, setup, who
from commands.slash.invocation import Invocation


class Subcommand(Protocol):
    def check(self, args: list[str]) -> str | None: ...

    async def run(self, inv: Invocation) -> None: ...


SUBCOMMANDS: dict[str, Subcommand] = {
    "create": create,
    "edit": edit,
    "delete": delete,
    "info": info,
    "setup": setup,
    "number": number,
    "server": server,
    "who": who,
}


async def conference(
    ctx: SlackContext,
    ack: AsyncAck,
    command: Payload,
    client: AsyncWebClient,
    respond: AsyncRespond,
) -> None:
    words = str(command.get("text") or "").split()
    name = words[0].lower() if words else "help"
    if name == "help":  # static, so it goes in the acknowledgement itself
        await ack(**help_message())
        return
    if name == "list":  # kept in memory: answered at once, no response_url post after it
        problem = list_rooms.check(words[1:])
        await ack(**(usage_message(problem) if problem else await ctx.rooms.message()))
        return
    sub: Subcommand | None = SUBCOMMANDS.get(name)
    if sub is None:
        await ack(**usage_message(f'There is no subcommand "{esc(words[0])}".'))
        return
    problem = sub.check(words[1:])
    if problem:
        await ack(**usage_message(problem))
        return
    await ack()
    await sub.run(
        Invocation(
            ctx=ctx,
            client=client,
            respond=respond,
            user_id=str(command["user_id"]),
            channel_id=str(command.get("channel_id") or ""),
            trigger_id=str(command.get("trigger_id") or ""),
            args=words[1:],
        )
    )
