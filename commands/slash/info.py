"""``/conference info ROOM``: a dial-in card in this channel, with a live count.

A room with a PIN opens a modal first, so the poster decides whether the PIN is shown.
"""

from __future__ import annotations

from commands import cards
from commands.blocks.modals import share_modal
from commands.slash.invocation import Invocation


def check(args: list[str]) -> str | None:
    return None if args else "Say which room: `/conference info ROOM`."


async def run(inv: Invocation) -> None:
    room = await inv.service.get_room(" ".join(inv.args))
    role = await inv.ctx.role(inv.user_id)
    if room.has_pin and await inv.service.may_manage(room.id, inv.actor, role):
        view = share_modal(room, channel=inv.channel_id, may_show_pin=True)
        await inv.client.views_open(trigger_id=inv.trigger_id, view=view)
        return
    problem = await cards.post_card(
        inv.ctx, inv.client, room, channel=inv.channel_id, include_pin=False, user_id=inv.user_id
    )
    if problem:
        await inv.say(problem)
