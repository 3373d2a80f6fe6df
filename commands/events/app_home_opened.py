"""The Home tab: published when opened, then kept current by LiveCards."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from commands.context import SlackContext
from commands.errors import guard


def register(app: AsyncApp, ctx: SlackContext) -> None:
    async def app_home_opened(event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        await ctx.homes.show_home(str(event["user"]))

    app.event("app_home_opened")(guard(app_home_opened))
