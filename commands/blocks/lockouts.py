"""A room under PIN guessing in Slack: the admins' channel alert, with its buttons "Change
PIN" (the room's edit modal) and "Lock PIN entry", and the same message once an admin has
locked or unlocked it.

Caller numbers come from the PBX, filtered there to ``[0-9A-Za-z+]``; they are escaped here
all the same and shown in code spans.
"""

from __future__ import annotations

from typing import Any

from commands import ids
from commands.blocks.kit import Block, button, context, esc, section
from commands.blocks.trunk import duration, when
from telephony.lockout_monitor import RoomAlert


def for_how_long(seconds: float) -> str:
    """``an hour``, ``30 min``, ``2 h``: a button label's length of time."""
    return "an hour" if round(seconds) == 3600 else duration(seconds)


def _callers(numbers: tuple[str, ...]) -> str:
    shown = ", ".join(f"`{esc(n[:32])}`" for n in numbers[:10])
    return shown or "_unknown_"


def _actions(room_id: int, lock_for: float, *, locked: bool) -> Block:
    second = (
        button("Unlock PIN entry", ids.UNLOCK_PIN_ENTRY, str(room_id))
        if locked
        else button(
            f"Lock PIN entry for {for_how_long(lock_for)}",
            ids.LOCK_PIN_ENTRY,
            str(room_id),
            style="danger",
        )  # fmt: skip
    )
    return {
        "type": "actions",
        "block_id": ids.LOCKOUT_ACTIONS_BLOCK,
        "elements": [button("Change PIN", ids.ROOM_EDIT, str(room_id), style="primary"), second],
    }


def room_alert(alert: RoomAlert, lock_for: float) -> dict[str, Any]:
    """Posted once per window when a room gets too many wrong PINs from anyone."""
    room = alert.room
    where = (
        f"room *{esc(room.name)}* (conference ID `{room.conference_id}`)"
        if room
        else "a room deleted since"
    )
    count = f"{alert.count} wrong PINs" if alert.count else "Too many wrong PINs"
    within = f" within {duration(alert.window)}" if alert.window else ""
    head = (
        f":rotating_light: *Someone may be guessing a PIN*: {count}{within} for {where}, "
        f"the latest at {when(alert.at)}."
    )
    late = " (This happened while the bot was offline.)" if alert.late else ""
    body = f"*Latest callers:* {_callers(alert.callers)}{late}"
    foot = (
        "Each caller is refused for a while after a few wrong PINs, but callers with many "
        "numbers get more tries. Change the PIN, or lock the room's PIN entry: everyone is "
        "then refused at the PIN prompt, also callers who know it. "
        "`conference-bot lockouts list` shows who is locked out."
    )
    blocks: list[Block] = [section(head), section(body), context(foot)]
    if room is not None:
        blocks.append(_actions(alert.room_id, lock_for, locked=False))
    text = f"{count}{within} for room {room.name if room else alert.room_id}"
    return {"text": esc(text)[:3000], "blocks": blocks}


def pin_entry_changed(
    blocks: list[Block], room_id: int, user: str, lock_for: float, until: int | None
) -> list[Block]:
    """The alert's blocks once ``user`` locked the PIN entry (``until`` set) or unlocked it:
    what it said, who did what, and the button that undoes it."""
    kept = [b for b in blocks if b.get("block_id") not in (ids.LOCKOUT_ACTIONS_BLOCK,
                                                           ids.LOCKOUT_STATE_BLOCK)]  # fmt: skip
    if until is not None:
        state = (
            f":lock: <@{user}> locked the PIN entry until {when(until)}: every caller hears "
            "that the conference is locked."
        )
    else:
        state = f":unlock: <@{user}> unlocked the PIN entry."
    return [*kept, section(state, block_id=ids.LOCKOUT_STATE_BLOCK),
            _actions(room_id, lock_for, locked=until is not None)]  # fmt: skip
