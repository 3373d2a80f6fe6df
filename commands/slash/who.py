"""``/conference who ROOM``: the roster of the room's call, in a modal that follows the call.

Anyone may look; numbers show whole, and the buttons to run the call appear, only for the
room's owners and the admins."""

from __future__ import annotations

from commands.roster import open_roster
from commands.slash.invocation import Invocation


def check(args: list[str]) -> str | None:
    return None if args else "Say which room: `/conference who ROOM`."


async def run(inv: Invocation) -> None:
    room = await inv.service.get_room(" ".join(inv.args))
    await open_roster(inv.ctx, inv.client, inv.trigger_id, room, inv.user_id)
