"""The Home tab: every room with its live count, and buttons to see who is in its call
(the roster), edit, share or delete it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.models import Room, Server
from commands import ids
from commands.blocks.kit import (
    VIEW_BLOCKS,
    Block,
    View,
    and_more,
    button,
    context,
    esc,
    plain,
    room_line,
    section,
)


def home_view(
    rooms: Sequence[Room], counts: Mapping[int, int], online: bool, server: Server | None
) -> View:
    blocks: list[Block] = [
        {"type": "header", "text": plain("Conference rooms", 150)},
    ]
    if server is None:
        blocks.append(section("No conference server yet. An admin can run `/conference setup`."))
    else:
        status = "" if online else "  :warning: PBX offline: live counts unavailable."
        blocks.append(context(f"Dial {esc(server.dial_in)}, then the conference ID.{status}"))
        blocks.append(
            {
                "type": "actions",
                "elements": [button("Create a room", ids.HELP_CREATE, style="primary")],
            }
        )
    if server is not None and not rooms:
        blocks.append(section("No rooms yet."))
    # 3 blocks a room, then "and N more" where Slack's 100 blocks a view end.
    shown = rooms
    if len(blocks) + 3 * len(rooms) > VIEW_BLOCKS:
        shown = rooms[: (VIEW_BLOCKS - len(blocks) - 1) // 3]
    for room in shown:
        blocks.append({"type": "divider"})
        blocks.append(section(room_line(room, counts.get(room.id, 0), online)))
        value = str(room.id)
        blocks.append(
            {
                "type": "actions",
                "block_id": f"room-{room.id}",
                "elements": [
                    button("Participants", ids.SHOW_PARTICIPANTS, value),
                    button("Edit", ids.ROOM_EDIT, value),
                    button("Share dial-in card", ids.ROOM_SHARE, value),
                    button("Request deletion", ids.ROOM_DELETE, value, style="danger"),
                ],
            }
        )
    if len(shown) < len(rooms):
        blocks.append(context(and_more(len(rooms) - len(shown), "room")))
    return {"type": "home", "callback_id": ids.HOME_VIEW, "blocks": blocks}
