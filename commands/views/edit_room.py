"""The edit modal submitted: save the changes, or show what is wrong inline."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import errors
from bot.service import UNSET
from commands import ids
from commands.context import SlackContext, actor
from commands.errors import guard
from commands.notify import metadata, slack_error, tell
from commands.render import esc, pin_text
from commands.views import state

log = logging.getLogger(__name__)


def register(app: AsyncApp, ctx: SlackContext) -> None:
    async def edit_room(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        user = body["user"]["id"]
        meta = metadata(view)
        new_pin = state.text(view, ids.PIN_BLOCK)
        remove_pin = state.ticked(view, ids.REMOVE_PIN_BLOCK)
        if new_pin and remove_pin:
            await ack(
                response_action="errors",
                errors={ids.PIN_BLOCK: "Type a new PIN or tick Remove the PIN, not both."},
            )
            return
        pin: str | None = None if remove_pin else (new_pin or UNSET)
        service = ctx.deps.service
        try:
            current = await service.get_room_by_id(int(meta["room_id"]))
            room = await service.update_room(
                current.id,  # by id: another edit may have changed its name or conference ID
                actor=actor(user),
                name=state.text(view, ids.NAME_BLOCK),
                conference_id=state.text(view, ids.CONFERENCE_ID_BLOCK),
                pin=pin,
                max_participants=state.text(view, ids.LIMIT_BLOCK),
                language=state.text(view, ids.LANGUAGE_BLOCK) or current.language,
                role=await ctx.role(user),
            )
        except errors.DomainError as exc:
            await ack(response_action="errors", errors=state.inline_errors(exc, ids.NAME_BLOCK))
            return
        await ack()
        text = (
            f"Room *{esc(room.name)}* saved: conference ID {room.conference_id}, "
            f"{pin_text(room)}, up to {room.max_participants} people."
        )
        try:
            await tell(client, user, text, channel=meta.get("channel") or None)
        except SlackApiError as exc:
            log.warning("could not confirm room change to %s: %s", user, slack_error(exc))

    app.view(ids.EDIT_VIEW)(guard(edit_room))
