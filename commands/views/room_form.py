"""What the create and edit submissions share: the form's fields, saving with the problems
shown next to them, and the confirmation."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypedDict

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import errors
from bot.models import Room
from commands import ids
from commands.blocks.kit import esc, pin_text
from commands.blocks.modals import CALL_OPTIONS
from commands.notify import slack_error, tell
from commands.views import state

log = logging.getLogger(__name__)


class Fields(TypedDict):
    """The fields both forms have, as typed (the service checks them). Both forms show the
    moderator PIN (pre-filled when editing) and every option, so both pass all of them:
    an empty moderator PIN means none, an unticked option off."""

    name: str
    conference_id: str
    max_participants: str
    moderator_pin: str | None
    options: dict[str, bool]


def fields(view: dict[str, Any]) -> Fields:
    ticked = state.chosen(view, ids.OPTIONS_BLOCK)
    return Fields(
        name=state.text(view, ids.NAME_BLOCK),
        conference_id=state.text(view, ids.CONFERENCE_ID_BLOCK),
        max_participants=state.text(view, ids.LIMIT_BLOCK),
        moderator_pin=state.text(view, ids.MODERATOR_PIN_BLOCK) or None,
        options={name: name in ticked for name in CALL_OPTIONS},
    )


def summary(room: Room) -> str:
    """What the confirmation says of a room: never a PIN, only whether there is one."""
    limit = room.max_participants
    text = f"conference ID {room.conference_id}, {pin_text(room)}, up to {limit} people"
    if room.has_moderator_pin:
        text += ", a moderator PIN"
    chosen = [CALL_OPTIONS[name][0].lower() for name, on in room.options().items() if on]
    if chosen:
        text += f"; options: {', '.join(chosen)}"
    return text


async def save(
    ack: AsyncAck,
    client: AsyncWebClient,
    user_id: str,
    channel: str | None,
    write: Awaitable[Room],
    confirmation: Callable[[Room], str],
) -> None:
    """Save (``write``), or show what is wrong next to the fields and keep the modal open;
    once saved, close it and tell the person (in ``channel`` if given, else by DM): that it
    is done, or, when the PBX did not confirm it in time, that it is saved but callers still
    get the old settings until the PBX takes it."""
    # Saving is a local SQLite write, and the PBX's confirmation is bounded (about 1.5 s),
    # well inside Slack's 3 seconds: the only way to show problems (a taken ID, a full
    # server) inline before the modal closes.
    try:
        room = await write
        text = confirmation(room)
    except errors.ChangeNotApplied as pending:
        text = f":warning: {esc(pending.message)}"  # saved: close the modal, say it plainly
    except errors.DomainError as exc:
        await ack(response_action="errors", errors=state.inline_errors(exc, ids.NAME_BLOCK))
        return
    await ack()
    try:
        await tell(client, user_id, text, channel=channel)
    except SlackApiError as exc:
        log.warning("could not tell %s about a saved room: %s", user_id, slack_error(exc))
