"""``/conference number assign +E164 | unassign`` (admins): the server's phone number."""

from __future__ import annotations

from commands.permissions import require_admin
from commands.slash.invocation import Invocation

USAGE = "Usage: `/conference number assign +E164` or `/conference number unassign`."


def check(args: list[str]) -> str | None:
    if len(args) >= 2 and args[0].lower() == "assign":  # "+1 (555) 123-4567" is fine too
        return None
    if len(args) == 1 and args[0].lower() == "unassign":
        return None
    return USAGE


async def run(inv: Invocation) -> None:
    if not await require_admin(inv.ctx, inv.user_id, inv.respond, "change the phone number"):
        return
    if inv.args[0].lower() == "assign":
        server = await inv.service.assign_number(" ".join(inv.args[1:]), inv.actor)
        await inv.say(
            f"Phone number {server.phone_number} now reaches extension {server.extension}."
        )
    else:
        server = await inv.service.unassign_number(inv.actor)
        await inv.say(f"The phone number is unassigned; dial extension {server.extension}.")
