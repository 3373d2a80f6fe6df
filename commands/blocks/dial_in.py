"""Dial-in cards: what to dial, the conference ID, the PIN only if the poster chose to show
it, the live participant count with the call's locked and recording marks, a "Show
participants" button (the roster) and a "Join from browser" one (issue 12). LiveCards edits
them as the call changes."""

from __future__ import annotations

from typing import Any

from bot.models import Room, Server
from commands import ids
from commands.blocks.kit import button, context, count_text, esc, section
from commands.blocks.roster import CallState, join_from_browser_button, state_marks


def dial_in_card(
    room: Room,
    server: Server | None,
    count: int,
    online: bool,
    *,
    include_pin: bool,
    state: CallState | None = None,
) -> dict[str, Any]:
    if server is None:
        dial = "The conference server is not set up."
    elif server.phone_number:
        dial = f"*Dial:* {server.phone_number} (or extension {server.extension})"
    else:
        dial = f"*Dial:* extension {server.extension}"
    details = f"{dial}\n*Conference ID:* {room.conference_id}#"
    if room.has_pin:
        details += f"\n*PIN:* {room.pin}#" if include_pin else "\n*PIN:* ask the organiser"
    live = count_text(count, online)
    marks = state_marks(state) if state is not None and online else ""
    title = section(f"*{esc(room.name)}*: conference call")
    title["accessory"] = button("Show participants", ids.SHOW_PARTICIPANTS, str(room.id))
    dial_block = section(details)
    dial_block["accessory"] = join_from_browser_button(room)
    return {
        "text": f"Join {esc(room.name)}: conference ID {room.conference_id}, {live}",
        "blocks": [title, dial_block, context(f":telephone_receiver: {live}{marks}")],
    }


def deleted_card(room_name: str) -> dict[str, Any]:
    return {
        "text": f"Room {esc(room_name)} was deleted.",
        "blocks": [
            section(f"~{esc(room_name)}~: this room was deleted; its number no longer works.")
        ],
    }


def retired_card(card: dict[str, Any], room: Room) -> dict[str, Any]:
    """A dial-in card's last update, once newer cards of its room took over (only the newest
    few follow the count live)."""
    note = (
        "This card no longer updates live; use "
        f"`/conference info {room.conference_id}` for a fresh one."
    )
    return {**card, "blocks": [*card["blocks"], context(note)]}
