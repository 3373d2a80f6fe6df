"""The message asking a room's owners about a caller waiting in its lobby: with Admit and
Refuse while the caller waits, then with what became of them (who decided, the time limit,
the caller hanging up).

It is posted in a channel, so the caller's number is masked ("…1234") and their name (text
the caller chose) escaped. Button values are the request's id: never a PIN, never the
number.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.models import LobbyRequest, LobbyStatus
from bot.service.lobby import masked
from commands import ids
from commands.blocks.kit import button, context, esc, inert, section, who
from commands.blocks.roster import mask_in_text


def caller_text(request: LobbyRequest) -> str:
    """``Ana (…1234)``, or ``(…1234)`` without a name. A name that spells a number (a
    trunk's caller name often is one) is masked like the number: a channel reads this."""
    number = f"({inert(masked(request.caller_number))})"
    name = request.caller_name.strip()
    if name and name != request.caller_number:
        return f"{inert(mask_in_text(name))} {number}"
    return number


def lobby_waiting(request: LobbyRequest) -> dict[str, Any]:
    """A caller waits: who, for which room, until when, with Admit and Refuse."""
    caller, room = caller_text(request), esc(request.room_name)
    until = _stamp(request.expires_at)
    return {
        "text": f"{caller} wants to join {room}",
        "blocks": [
            section(f":bell: {caller} wants to join *{room}*", block_id=ids.LOBBY_STATE_BLOCK),
            context(
                f"They hear music until someone decides, at most until {until}. "
                "Only the room's owners and the admins can let them in."
            ),  # fmt: skip
            {
                "type": "actions",
                "block_id": ids.LOBBY_ACTIONS_BLOCK,
                "elements": [
                    button("Admit", ids.LOBBY_ADMIT, str(request.id), style="primary"),
                    button("Refuse", ids.LOBBY_REFUSE, str(request.id), style="danger"),
                ],
            },
        ],
    }


def lobby_settled(request: LobbyRequest) -> dict[str, Any]:
    """The same message once the caller stopped waiting: no buttons, what happened."""
    caller, room = caller_text(request), esc(request.room_name)
    by = f" by {who(request.decided_by)}" if request.decided_by else ""
    outcome = {
        LobbyStatus.ADMITTED: (":white_check_mark:", f"was admitted to *{room}*{by}."),
        LobbyStatus.REFUSED: (":no_entry:", f"was refused entry to *{room}*{by}."),
        LobbyStatus.TIMEOUT: (":hourglass:", f"was not let into *{room}*: nobody answered "
                                             "in time, and they heard a goodbye."),
        LobbyStatus.LEFT: (":telephone_receiver:", f"hung up while waiting to join *{room}*."),
        LobbyStatus.WAITING: (":bell:", f"is waiting to join *{room}*."),
    }[request.status]  # fmt: skip
    plain = {
        LobbyStatus.ADMITTED: "admitted",
        LobbyStatus.REFUSED: "refused",
        LobbyStatus.TIMEOUT: "timed out",
        LobbyStatus.LEFT: "hung up",
        LobbyStatus.WAITING: "waiting",
    }[request.status]
    return {
        "text": f"{caller} {plain}: {room}",
        "blocks": [section(f"{outcome[0]} {caller} {outcome[1]}", block_id=ids.LOBBY_STATE_BLOCK)],
    }


def _stamp(iso: str) -> str:
    """The limit in each reader's own time zone (Slack's date token), ``14:05:09 UTC`` where
    a client cannot show it."""
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return esc(iso)
    fallback = moment.strftime("%H:%M:%S UTC")
    return f"<!date^{int(moment.timestamp())}^{{time_secs}}|{fallback}>"
