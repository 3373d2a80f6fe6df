"""The create modal submitted: create the room, or show what is wrong inline."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import errors
from commands import ids
from commands.context import SlackContext, actor
from commands.errors import guard
from commands.notify import metadata, slack_error, tell
from commands.render import esc, pin_text
from commands.views import state

log = logging.getLogger(__name__)


def register(app: AsyncApp, ctx: SlackContext) -> None:
    async def create_room(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        user = body["user"]["id"]
        # Saving is a local SQLite write, well inside Slack's 3 seconds, and it is the only
        # way to show problems (a taken ID, a full server) inline before the modal closes.
        try:
            room = await ctx.deps.service.create_room(
                name=state.text(view, ids.NAME_BLOCK),
                conference_id=state.text(view, ids.CONFERENCE_ID_BLOCK),
                pin=state.text(view, ids.PIN_BLOCK) or None,
                max_participants=state.text(view, ids.LIMIT_BLOCK),
                language=state.text(view, ids.LANGUAGE_BLOCK) or "en",
                actor=actor(user),
                role=await ctx.role(user),
            )
        except errors.DomainError as exc:
            await ack(response_action="errors", errors=state.inline_errors(exc, ids.NAME_BLOCK))
            return
        await ack()
        text = (
            f"Room *{esc(room.name)}* is ready: conference ID {room.conference_id}, "
            f"{pin_text(room)}, up to {room.max_participants} people. "
            f"Share it with `/conference info {room.conference_id}`."
        )
        try:
            await tell(client, user, text, channel=metadata(view).get("channel") or None)
        except SlackApiError as exc:
            log.warning("could not confirm room creation to %s: %s", user, slack_error(exc))

    app.view(ids.CREATE_VIEW)(guard(create_room))
