"""``/conference create [name]``: the create modal, with a free conference ID filled in."""

from __future__ import annotations

from commands.openers import open_create
from commands.slash.invocation import Invocation


def check(args: list[str]) -> str | None:
    return None


async def run(inv: Invocation) -> None:
    name = " ".join(inv.args)
    await open_create(inv.ctx, inv.client, inv.user_id, inv.trigger_id, inv.channel_id, name)
