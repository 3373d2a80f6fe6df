"""``/conference setup [EXTENSION]`` (admins): create the server or change its extension."""

from __future__ import annotations

from bot.rules import DEFAULT_EXTENSION
from commands.permissions import require_admin
from commands.slash.invocation import Invocation


def check(args: list[str]) -> str | None:
    return "Usage: `/conference setup [EXTENSION]`." if len(args) > 1 else None


async def run(inv: Invocation) -> None:
    what = "set up the conference server"
    if not await require_admin(inv.ctx, inv.user_id, inv.respond, what):
        return
    before = await inv.service.get_server()
    server = await inv.service.setup_server(
        inv.args[0] if inv.args else DEFAULT_EXTENSION, inv.actor
    )
    if before is None:
        await inv.say(f"Conference server created on extension {server.extension}.")
    else:
        await inv.say(f"Conference server extension is now {server.extension}.")
