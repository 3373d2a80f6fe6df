"""The Slack front end: the Bolt app (``app``), its listeners, Block Kit, live cards.

Listeners live one per file in a subpackage by kind (``slash``, ``actions``, ``views``,
``events``); each subpackage's ``register(app, ctx)`` registers them, and ``register`` here
wires them all, behind the workspace check and in front of the one error handler.
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from commands import actions, error_handler, events, slash, views, workspace
from commands.context import SlackContext


def register(app: AsyncApp, ctx: SlackContext) -> None:
    workspace.register(app, ctx)  # first: nothing else runs for another workspace
    slash.register(app, ctx)
    actions.register(app, ctx)
    views.register(app, ctx)
    events.register(app, ctx)
    error_handler.register(app)
