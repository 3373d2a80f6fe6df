"""The Slack front end's listeners: slash command, buttons, modal submissions, events.

Each subpackage exposes ``register(app, ctx)``; ``register`` here wires them all.
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from commands import actions, errors, events, respond, slash, views, workspace
from commands.context import SlackContext


def register(app: AsyncApp, ctx: SlackContext) -> None:
    workspace.register(app, ctx)  # first: nothing else runs for another workspace
    respond.register(app)
    slash.register(app, ctx)
    actions.register(app, ctx)
    views.register(app, ctx)
    events.register(app, ctx)
    errors.register(app, ctx)
