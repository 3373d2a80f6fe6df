"""``/conference delete ROOM``: confirm in a modal; the submission files or carries it out."""

from __future__ import annotations

from commands.openers import open_delete
from commands.slash.invocation import Invocation


def check(args: list[str]) -> str | None:
    return None if args else "Say which room: `/conference delete ROOM`."


async def run(inv: Invocation) -> None:
    room = await inv.service.get_room(" ".join(inv.args))
    await open_delete(inv.ctx, inv.client, inv.user_id, inv.trigger_id, inv.channel_id, room)
