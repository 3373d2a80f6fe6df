"""Events API subscriptions: one listener per file, registered here."""

from __future__ import annotations

from functools import partial

from slack_bolt.async_app import AsyncApp

from commands.context import SlackContext
from commands.events.app_home_opened import app_home_opened
from commands.guard import guard


def register(app: AsyncApp, ctx: SlackContext) -> None:
    app.event("app_home_opened")(guard(partial(app_home_opened, ctx)))
