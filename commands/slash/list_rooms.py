"""``/conference list``: every room, its conference ID, PIN or not, and the live count."""

from __future__ import annotations

from commands.slash.invocation import Invocation


def check(args: list[str]) -> str | None:
    return "`/conference list` takes no arguments." if args else None


async def run(inv: Invocation) -> None:
    await inv.respond(**await inv.ctx.rooms.message())  # kept in memory: no database read
