"""How rooms and their changes read in the audit log: the fields kept before and after a
change (never the PIN itself, only whether there is one) and the one-line summaries."""

from __future__ import annotations

from typing import Any

from bot.models import Room
from bot.rules import LANGUAGES


def audit_view(room: Room) -> dict[str, Any]:
    return {
        "name": room.name,
        "conference_id": room.conference_id,
        "has_pin": room.has_pin,
        "max_participants": room.max_participants,
        "language": room.language,
        "has_moderator_pin": room.has_moderator_pin,
        **room.options(),
    }


# How each call option reads in a summary: (when on, when off).
OPTION_TEXT = {
    "wait_for_moderator": ("callers wait for a moderator", "callers need no moderator"),
    "end_with_moderator": ("the call ends with the last moderator",
                           "the call goes on without moderators"),
    "start_muted": ("callers join muted", "callers join unmuted"),
    "lobby": ("callers wait to be admitted", "callers join without asking"),
    "join_notes": ("join/leave notes on", "join/leave notes off"),
}  # fmt: skip


def room_summary(room: Room) -> str:
    pin = "with PIN" if room.has_pin else "no PIN"
    return (
        f'room "{room.name}" (ID {room.conference_id}, {pin}, '
        f"up to {room.max_participants}, {LANGUAGES[room.language]} prompts)"
    )


def describe_changes(before: Room, after: Room) -> list[str]:
    parts: list[str] = []
    if before.name != after.name:
        parts.append(f'name "{before.name}" -> "{after.name}"')
    if before.conference_id != after.conference_id:
        parts.append(f"conference ID {before.conference_id} -> {after.conference_id}")
    if before.pin != after.pin:
        if after.pin is None:
            parts.append("PIN removed")
        elif before.pin is None:
            parts.append("PIN set")
        else:
            parts.append("PIN changed")
    if before.max_participants != after.max_participants:
        parts.append(f"limit {before.max_participants} -> {after.max_participants}")
    if before.language != after.language:
        parts.append(f"language {before.language} -> {after.language}")
    if before.moderator_pin != after.moderator_pin:
        if after.moderator_pin is None:
            parts.append("moderator PIN removed")
        elif before.moderator_pin is None:
            parts.append("moderator PIN set")
        else:
            parts.append("moderator PIN changed")
    old, new = before.options(), after.options()
    for name, (on, off) in OPTION_TEXT.items():
        if old[name] != new[name]:
            parts.append(on if new[name] else off)
    return parts
