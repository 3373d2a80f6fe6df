"""Events API subscriptions: one listener per file."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from commands.context import SlackContext
from commands.events import app_home_opened


def register(app: AsyncApp, ctx: SlackContext) -> None:
    app_home_opened.register(app, ctx)
