"""``/conference list``: every room, its conference ID, PIN or not, and the live count.

The message comes from ``commands.room_list`` (kept in memory) and goes in the
acknowledgement itself (``commands.slash.conference``)."""

from __future__ import annotations


def check(args: list[str]) -> str | None:
    return "`/conference list` takes no arguments." if args else None
