"""The messages ``/conference`` answers with: help, usage, the room list, confirmations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.models import Room, Server
from commands import ids
from commands.blocks.kit import (
    MESSAGE_BLOCKS,
    and_more,
    button,
    confirm_dialog,
    context,
    count_text,
    esc,
    pin_text,
    room_line,
    section,
)

USAGE = (
    "*Usage*\n"
    "`/conference` or `/conference help`: this overview\n"
    "`/conference list`: the rooms and who is in them\n"
    "`/conference create [name]`: create a room\n"
    "`/conference edit ROOM`: rename it, change its conference ID or PIN\n"
    "`/conference delete ROOM`: ask the admins to delete a room\n"
    "`/conference info ROOM`: post a dial-in card in this channel\n"
    "`/conference who ROOM`: who is in the room's call (owners can mute, remove, lock, record)\n"
    "Admins: `/conference setup [EXTENSION]`, `/conference number assign +E164`, "
    "`/conference number unassign`, `/conference server delete`\n"
    "ROOM is a room's name or conference ID."
)


def help_message() -> dict[str, Any]:
    return {
        "response_type": "ephemeral",
        "text": "Conference rooms: create, list, share and delete them from here.",
        "blocks": [
            section(
                "*Conference rooms*\nCreate a room, share its dial-in details, see who is "
                "in a call. Deleting a room needs an admin's approval."
            ),
            {
                "type": "actions",
                "elements": [
                    button("Create a room", ids.HELP_CREATE, style="primary"),
                    button("List rooms", ids.HELP_LIST),
                ],
            },
            section(USAGE),
        ],
    }


def usage_message(problem: str | None = None) -> dict[str, Any]:
    text = f"{problem}\n\n{USAGE}" if problem else USAGE
    return {"response_type": "ephemeral", "text": text}


def ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text}


def room_list(
    rooms: Sequence[Room], counts: Mapping[int, int], online: bool, server: Server | None
) -> dict[str, Any]:
    if server is None:
        text = "There is no conference server yet. An admin can set one up: `/conference setup`."
        return {"response_type": "ephemeral", "text": text}
    if not rooms:
        text = "There are no rooms yet. Create one: `/conference create`."
        return {"response_type": "ephemeral", "text": text}
    header = f"*{len(rooms)} room{'s' if len(rooms) != 1 else ''}*, dial {esc(server.dial_in)}"
    if not online:
        header += "\n:warning: PBX offline: live participant counts are unavailable."
    blocks = [section(header)]
    # One block a room, then "and N more" where Slack's 50 blocks a message end.
    shown = rooms if len(rooms) < MESSAGE_BLOCKS else rooms[: MESSAGE_BLOCKS - 2]
    blocks += [section(room_line(r, counts.get(r.id, 0), online)) for r in shown]
    lines = [
        f"{esc(r.name)}: ID {r.conference_id}, {pin_text(r)}, "
        f"{count_text(counts.get(r.id, 0), online)}"
        for r in shown
    ]
    if len(shown) < len(rooms):
        blocks.append(context(and_more(len(rooms) - len(shown), "room")))
        lines.append(and_more(len(rooms) - len(shown), "room"))
    # At most 48 lines of at most ~400 characters: far below the 40,000 of a message.
    return {"response_type": "ephemeral", "text": "\n".join(lines), "blocks": blocks}


def server_delete_question(server: Server) -> dict[str, Any]:
    """``/conference server delete`` asks first, with a button that asks once more."""
    question = f"Delete the conference server (extension {server.extension})?"
    confirm = confirm_dialog(
        "Delete the server?", "The conference server and its extension are removed.", "Delete"
    )
    return {
        "response_type": "ephemeral",
        "text": question,
        "blocks": [
            section(question),
            {
                "type": "actions",
                "elements": [
                    button(
                        "Delete the server",
                        ids.CONFIRM_SERVER_DELETE,
                        "delete",
                        style="danger",
                        confirm=confirm,
                    )
                ],
            },
        ],
    }
