"""``/conference delete ROOM``: confirm in a modal; the submission files or carries it out."""

from __future__ import annotations

from bot.models import Role
from commands import render
from commands.slash.invocation import Invocation


def check(args: list[str]) -> str | None:
    return None if args else "Say which room: `/conference delete ROOM`."


async def run(inv: Invocation) -> None:
    room = await inv.service.get_room(" ".join(inv.args))
    role = await inv.ctx.role(inv.user_id)
    await inv.service.refuse_guest(inv.actor, role, "ask to delete rooms", room.name)
    admin = role is Role.ADMIN
    tracker = inv.ctx.deps.tracker
    view = render.delete_modal(
        room,
        tracker.count(room.id),
        inv.ctx.pbx_online,
        admin=admin,
        metadata={"room_id": room.id, "channel": inv.channel_id},
    )
    await inv.client.views_open(trigger_id=inv.trigger_id, view=view)
