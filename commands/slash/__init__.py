"""``/conference SUBCOMMAND``: one module per subcommand; this file routes to them."""

from __future__ import annotations

from typing import Any, Protocol

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from commands import ids, render
from commands.context import SlackContext
from commands.errors import guard
from commands.slash import (
    create,
    delete,
    edit,
    info,
    list_rooms,
    number,
    server,
    setup,
)
from commands.slash.invocation import Invocation


class Subcommand(Protocol):
    def check(self, args: list[str]) -> str | None: ...

    async def run(self, inv: Invocation) -> None: ...


SUBCOMMANDS: dict[str, Any] = {
    "list": list_rooms,
    "create": create,
    "edit": edit,
    "delete": delete,
    "info": info,
    "setup": setup,
    "number": number,
    "server": server,
}


def register(app: AsyncApp, ctx: SlackContext) -> None:
    async def conference(
        ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        words = str(command.get("text") or "").split()
        name = words[0].lower() if words else "help"
        if name == "help":  # static, so it goes in the acknowledgement itself
            await ack(**render.help_message())
            return
        sub: Subcommand | None = SUBCOMMANDS.get(name)
        if sub is None:
            await ack(**render.usage_message(f'There is no subcommand "{render.esc(words[0])}".'))
            return
        problem = sub.check(words[1:])
        if problem:
            await ack(**render.usage_message(problem))
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

    app.command(ids.COMMAND)(guard(conference))
