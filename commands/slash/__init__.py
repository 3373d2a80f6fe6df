"""``/conference SUBCOMMAND``: one listener routes (``conference``), one module a subcommand."""

from __future__ import annotations

from functools import partial

from slack_bolt.async_app import AsyncApp

from commands import ids
from commands.context import SlackContext
from commands.guard import guard
from commands.slash.conference import conference


def register(app: AsyncApp, ctx: SlackContext) -> None:
    app.command(ids.COMMAND)(guard(partial(conference, ctx)))
