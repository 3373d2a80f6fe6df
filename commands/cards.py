"""Posting a dial-in card and remembering it, so live counts reach it (also after a restart)."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.models import Room
from commands.blocks.dial_in import dial_in_card
from commands.context import SlackContext, actor
from commands.notify import slack_error
from commands.roster import call_state

log = logging.getLogger(__name__)

_CANNOT_POST = {
    "not_in_channel": "I am not in that channel. Invite me (`/invite @Conference`) and try again.",
    "channel_not_found": "I cannot see that channel. Invite me to it and try again.",
    "is_archived": "That channel is archived.",
    "restricted_action": "This workspace does not let me post in that channel.",
}


async def post_card(
    ctx: SlackContext,
    client: AsyncWebClient,
    room: Room,
    *,
    channel: str,
    include_pin: bool,
    user_id: str,
) -> str | None:
    """Post the card; return what went wrong, for the poster, or None. Only the room's
    owners and admins may include the PIN (``NotAllowed``, audited, for anyone else)."""
    if include_pin and room.has_pin:
        room = await ctx.deps.service.require_manager(
            room.id, actor(user_id), await ctx.role(user_id), "post its PIN in a channel"
        )
    server = await ctx.deps.service.get_server()
    tracker = ctx.deps.tracker
    card = dial_in_card(
        room, server, tracker.count(room.id), ctx.pbx_online, include_pin=include_pin,
        state=call_state(tracker, room.id),
    )  # fmt: skip
    try:
        posted = await client.chat_postMessage(channel=channel, **card)
    except SlackApiError as exc:
        error = slack_error(exc)
        if error in _CANNOT_POST:
            return _CANNOT_POST[error]
        raise
    await ctx.deps.service.remember_card(
        channel=str(posted["channel"]),
        ts=str(posted["ts"]),
        room_id=room.id,
        include_pin=include_pin and room.has_pin,
        posted_by=actor(user_id),
        shown_pin=room.pin if include_pin else None,
    )
    return None
