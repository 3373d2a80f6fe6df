"""``/conference edit ROOM``: rename, change the conference ID, set, change or remove the PIN."""

from __future__ import annotations

from commands.openers import open_edit
from commands.slash.invocation import Invocation


def check(args: list[str]) -> str | None:
    return None if args else "Say which room: `/conference edit ROOM`."


async def run(inv: Invocation) -> None:
    room = await inv.service.get_room(" ".join(inv.args))
    await open_edit(inv.ctx, inv.client, inv.user_id, inv.trigger_id, inv.channel_id, room.id)
