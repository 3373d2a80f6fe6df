"""The modals: create and edit a room, confirm a deletion, share a dial-in card, apologise.

The PIN is never pre-filled, even for a room's owner. The moderator PIN is, in the edit
modal: only the room's owners and admins can open it, and it is the one place in Slack where
they can look up the PIN they hand to moderators.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bot.models import Room
from bot.rules import LANGUAGES, MAX_PARTICIPANTS
from commands import ids
from commands.blocks.kit import (
    Block,
    View,
    context,
    count_text,
    esc,
    input_block,
    plain,
    section,
    text_input,
)


def _modal(
    callback_id: str, title: str, submit: str, metadata: Mapping[str, Any], blocks: list[Block]
) -> View:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title),
        "submit": plain(submit),
        "close": plain("Cancel"),
        "private_metadata": json.dumps(dict(metadata)),
        "blocks": blocks,
    }


def _tick_box(block_id: str, label: str, text: str, value: str) -> Block:
    """An optional one-option checkbox input (``views.state.ticked`` reads it)."""
    option = {"text": plain(text, 75), "value": value}
    return input_block(block_id, label, {"type": "checkboxes", "options": [option]}, optional=True)


# The call options as the form shows them, in ``Room.options()`` order: (label, description);
# Slack cuts both at 75 characters.
CALL_OPTIONS = {
    "wait_for_moderator": (
        "Wait for a moderator",
        "Callers hear music until someone joins with the moderator PIN.",
    ),
    "end_with_moderator": (
        "End the call with the last moderator",
        "Everyone is disconnected when the last moderator leaves.",
    ),
    "start_muted": ("Callers join muted", "Moderators are never muted on joining."),
    "lobby": ("Ask before letting callers in", "An owner admits or refuses each caller here."),
    "join_notes": ("Join and leave notes", "Posted in the thread of the room's dial-in card."),
}


def _options_box(room: Room | None) -> Block:
    """One checkbox per call option, ticked as the room has them."""
    options: list[dict[str, Any]] = [
        {"text": plain(label, 75), "description": plain(more, 75), "value": name}
        for name, (label, more) in CALL_OPTIONS.items()
    ]
    element: dict[str, Any] = {"type": "checkboxes", "options": options}
    ticked = [o for o in options if room is not None and room.options()[o["value"]]]
    if ticked:  # Slack refuses an empty initial_options
        element["initial_options"] = ticked
    return input_block(ids.OPTIONS_BLOCK, "Call options", element, optional=True)


def _moderator_pin(room: Room | None) -> Block:
    """The moderator PIN; pre-filled in the edit modal (see the module's docstring)."""
    hint = (
        "4 to 10 digits, not the PIN. Callers who key it in join as moderators: they get "
        "in when the room is full or locked, and have the moderator keypad menu."
    )
    if room is not None:
        hint += " Clear it to remove the moderator PIN."
    initial = room.moderator_pin if room is not None else None
    return input_block(
        ids.MODERATOR_PIN_BLOCK,
        "Moderator PIN",
        text_input(initial, max_length=10),
        optional=True,
        hint=hint,
    )


def _language_select(initial: str) -> dict[str, Any]:
    options = [{"text": plain(name, 75), "value": code} for code, name in LANGUAGES.items()]
    chosen = next(o for o in options if o["value"] == initial)
    return {"type": "static_select", "options": options, "initial_option": chosen}


def room_form(
    *,
    callback_id: str,
    title: str,
    submit: str,
    room: Room | None = None,
    name: str = "",
    suggested_id: str = "",
    metadata: Mapping[str, Any] | None = None,
) -> View:
    """The create and edit modal. The PIN is never pre-filled, even for its owner; the
    moderator PIN is in the edit modal, which only owners and admins can open."""
    blocks: list[Block] = [
        input_block(ids.NAME_BLOCK, "Room name", text_input(room.name if room else name, 64)),
        input_block(
            ids.CONFERENCE_ID_BLOCK,
            "Conference ID",
            text_input(room.conference_id if room else suggested_id, 10),
            hint="3 to 10 digits; callers type it on their keypad.",
        ),
    ]
    if room is None:
        blocks.append(
            input_block(
                ids.PIN_BLOCK,
                "PIN",
                text_input(max_length=10),
                optional=True,
                hint="4 to 10 digits. Leave empty for a room anyone with the ID can join.",
            )
        )
    else:
        state = "This room has a PIN." if room.has_pin else "This room has no PIN."
        blocks.append(
            input_block(
                ids.PIN_BLOCK,
                "New PIN",
                text_input(max_length=10),
                optional=True,
                hint=f"{state} Type 4 to 10 digits to set or change it; leave empty to keep it.",
            )
        )
        if room.has_pin:
            blocks.append(
                _tick_box(
                    ids.REMOVE_PIN_BLOCK, "Remove the PIN", "Let anyone with the ID join", "remove"
                )
            )
    blocks += [
        _moderator_pin(room),
        input_block(
            ids.LIMIT_BLOCK,
            "Participant limit",
            {
                "type": "number_input",
                "is_decimal_allowed": False,
                "min_value": "1",
                "max_value": str(MAX_PARTICIPANTS),
                "initial_value": str(room.max_participants if room else MAX_PARTICIPANTS),
            },
            hint=f"At most {MAX_PARTICIPANTS} people at once.",
        ),
        input_block(
            ids.LANGUAGE_BLOCK,
            "Prompt language",
            _language_select(room.language if room else "en"),
        ),
        _options_box(room),
    ]
    return _modal(callback_id, title, submit, metadata or {}, blocks)


def delete_modal(
    room: Room, count: int, online: bool, *, admin: bool, metadata: Mapping[str, Any]
) -> View:
    if admin:
        intro = (
            f"Delete room *{esc(room.name)}* (conference ID `{room.conference_id}`)? "
            "Anyone in the call hears a goodbye and is disconnected."
        )
        submit = "Delete"
    else:
        intro = (
            f"Ask the admins to delete room *{esc(room.name)}* (conference ID "
            f"`{room.conference_id}`)? The room stays until an admin approves."
        )
        submit = "Ask to delete"
    blocks: list[Block] = [
        section(intro),
        context(f"Right now: {count_text(count, online)}."),
        input_block(
            ids.REASON_BLOCK,
            "Reason",
            {**text_input(max_length=500), "multiline": True},
            optional=True,
        ),
    ]
    return _modal(ids.DELETE_VIEW, "Delete room", submit, metadata, blocks)


def share_modal(room: Room, *, channel: str | None, may_show_pin: bool) -> View:
    """Pick a channel; the "Include the PIN" box only for the room's owners and admins."""
    element: dict[str, Any] = {
        "type": "conversations_select",
        "default_to_current_conversation": True,
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
    }
    if channel:
        element["initial_conversation"] = channel
    blocks: list[Block] = [
        section(f"Post the dial-in details of *{esc(room.name)}* with a live participant count."),
        input_block(ids.CHANNEL_BLOCK, "Channel", element),
    ]
    if room.has_pin and may_show_pin:
        include = "Include the PIN: everyone in the channel sees it"
        blocks.append(_tick_box(ids.INCLUDE_PIN_BLOCK, "PIN", include, "include"))
    return _modal(ids.SHARE_VIEW, "Share dial-in card", "Post", {"room_id": room.id}, blocks)


def apology_view(text: str) -> View:
    return {
        "type": "modal",
        "callback_id": ids.APOLOGY_VIEW,
        "title": plain("Something went wrong"),
        "close": plain("Close"),
        "blocks": [section(text)],
    }
