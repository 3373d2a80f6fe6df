"""``/conference list``: every room, its conference ID, PIN or not, and the live count."""

from __future__ import annotations

from commands import render
from commands.slash.invocation import Invocation


def check(args: list[str]) -> str | None:
    return "`/conference list` takes no arguments." if args else None


async def run(inv: Invocation) -> None:
    rooms = await inv.service.list_rooms()
    server = await inv.service.get_server()
    counts = inv.ctx.deps.tracker.counts()
    await inv.respond(**render.room_list(rooms, counts, inv.ctx.pbx_online, server))
