"""``/conference setup [EXTENSION]`` (admins): create the server or change its extension;
without an extension, once the server exists, show how it is set up. Admins also see the
registration trunk's status there, when there is one."""

from __future__ import annotations

from bot.rules import DEFAULT_EXTENSION
from commands.blocks.kit import esc
from commands.blocks.trunk import trunk_line
from commands.permissions import require_admin
from commands.slash.invocation import Invocation


def check(args: list[str]) -> str | None:
    return "Usage: `/conference setup [EXTENSION]`." if len(args) > 1 else None


async def run(inv: Invocation) -> None:
    what = "set up the conference server"
    if not await require_admin(inv.ctx, inv.user_id, inv.respond, what):
        return
    before = await inv.service.get_server()
    if before is not None and not inv.args:
        number = esc(before.phone_number) if before.phone_number else "none"
        text = f"Conference server: extension {before.extension}, phone number {number}."
    else:
        server = await inv.service.setup_server(
            inv.args[0] if inv.args else DEFAULT_EXTENSION, inv.actor
        )
        if before is None:
            text = f"Conference server created on extension {server.extension}."
        else:
            text = f"Conference server extension is now {server.extension}."
    trunk = inv.ctx.deps.trunk
    if trunk is not None:
        text += "\n" + trunk_line(trunk.state)
    await inv.say(text)
