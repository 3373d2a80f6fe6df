"""``/conference setup [EXTENSION]`` (admins): create the server or change its extension."""

from __future__ import annotations

from bot.service import DEFAULT_EXTENSION
from commands.slash.invocation import Invocation


def check(args: list[str]) -> str | None:
    return "Usage: `/conference setup [EXTENSION]`." if len(args) > 1 else None


async def run(inv: Invocation) -> None:
    if not await inv.require_admin("set up the conference server"):
        return
    before = await inv.service.get_server()
    server = await inv.service.setup_server(
        inv.args[0] if inv.args else DEFAULT_EXTENSION, inv.actor
    )
    if before is None:
        await inv.say(f"Conference server created on extension {server.extension}.")
    else:
        await inv.say(f"Conference server extension is now {server.extension}.")
