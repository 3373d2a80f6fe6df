"""The Home tab: published when opened, then kept current by LiveCards."""

from __future__ import annotations

from commands.context import Payload, SlackContext


async def app_home_opened(ctx: SlackContext, event: Payload) -> None:
    if event.get("tab", "home") != "home":
        return
    await ctx.homes.show_home(str(event["user"]))
