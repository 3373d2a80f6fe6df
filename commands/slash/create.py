"""``/conference create [name]``: the create modal, with a free conference ID filled in."""

from __future__ import annotations

from commands import ids, render
from commands.slash.invocation import Invocation


def check(args: list[str]) -> str | None:
    return None


async def run(inv: Invocation) -> None:
    await inv.service.refuse_guest(
        inv.actor, await inv.ctx.role(inv.user_id), "create rooms", "room"
    )
    await inv.service.require_server()  # say so now rather than after the form is filled in
    suggested = await inv.service.suggest_conference_id()
    view = render.room_form(
        callback_id=ids.CREATE_VIEW,
        title="Create a room",
        submit="Create",
        name=" ".join(inv.args),
        suggested_id=suggested,
        metadata={"channel": inv.channel_id},
    )
    await inv.client.views_open(trigger_id=inv.trigger_id, view=view)
