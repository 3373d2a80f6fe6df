"""``/conference edit ROOM``: rename, change the conference ID, set, change or remove the PIN."""

from __future__ import annotations

from commands import ids, render
from commands.slash.invocation import Invocation


def check(args: list[str]) -> str | None:
    return None if args else "Say which room: `/conference edit ROOM`."


async def run(inv: Invocation) -> None:
    found = await inv.service.get_room(" ".join(inv.args))
    role = await inv.ctx.role(inv.user_id)
    room = await inv.service.require_manager(found.id, inv.actor, role, "edit it")
    view = render.room_form(
        callback_id=ids.EDIT_VIEW,
        title="Edit room",
        submit="Save",
        room=room,
        metadata={"room_id": room.id, "channel": inv.channel_id},
    )
    await inv.client.views_open(trigger_id=inv.trigger_id, view=view)
