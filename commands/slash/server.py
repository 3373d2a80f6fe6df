"""``/conference server delete`` (admins): asks to confirm with a button, like the CLI asks."""

from __future__ import annotations

from commands.blocks.messages import server_delete_question
from commands.permissions import require_admin
from commands.slash.invocation import Invocation


def check(args: list[str]) -> str | None:
    if [a.lower() for a in args] == ["delete"]:
        return None
    return "Usage: `/conference server delete`."


async def run(inv: Invocation) -> None:
    if not await require_admin(inv.ctx, inv.user_id, inv.respond, "delete the conference server"):
        return
    server = await inv.service.require_server()
    await inv.respond(**server_delete_question(server))
