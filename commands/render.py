"""Block Kit for every message, modal and Home tab the app shows. Pure functions of data.

The PIN appears in one place only: a dial-in card whose poster chose to include it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from bot.models import LANGUAGES, DeletionRequest, Room, Server
from bot.service import MAX_PARTICIPANTS
from commands import ids

Block = dict[str, Any]
View = dict[str, Any]

MESSAGE_BLOCKS = 50  # Slack's limits: blocks in a message, in a Home tab or modal
VIEW_BLOCKS = 100

USAGE = (
    "*Usage*\n"
    "`/conference` or `/conference help`: this overview\n"
    "`/conference list`: the rooms and who is in them\n"
    "`/conference create [name]`: create a room\n"
    "`/conference edit ROOM`: rename it, change its conference ID or PIN\n"
    "`/conference delete ROOM`: ask the admins to delete a room\n"
    "`/conference info ROOM`: post a dial-in card in this channel\n"
    "Admins: `/conference setup [EXTENSION]`, `/conference number assign +E164`, "
    "`/conference number unassign`, `/conference server delete`\n"
    "ROOM is a room's name or conference ID."
)


def esc(text: str) -> str:
    """Make user text safe inside mrkdwn (no accidental mentions or links)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain(text: str, limit: int = 24) -> dict[str, Any]:
    """A plain_text object cut to Slack's limit for titles and button labels."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return {"type": "plain_text", "text": text, "emoji": True}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def section(text: str, block_id: str | None = None) -> Block:
    block: Block = {"type": "section", "text": mrkdwn(text)}
    if block_id:
        block["block_id"] = block_id
    return block


def context(text: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(text)]}


def button(
    text: str,
    action_id: str,
    value: str = "",
    style: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": plain(text, 75),
        "action_id": action_id,
    }
    if value:
        element["value"] = value
    if style:
        element["style"] = style
    if confirm:
        element["confirm"] = confirm
    return element


def count_text(count: int, online: bool) -> str:
    if not online:
        return "PBX offline"
    if count == 0:
        return "nobody in the call"
    return "1 person in the call" if count == 1 else f"{count} people in the call"


def pin_text(room: Room) -> str:
    return "PIN required" if room.has_pin else "no PIN"


def who(actor: str) -> str:
    """An actor string as a person reads it: a Slack mention when it is a Slack user."""
    if actor.startswith("slack:"):
        return f"<@{actor[len('slack:') :]}>"
    return esc(actor)


# -- help and usage ----------------------------------------------------------------------------


def help_message() -> dict[str, Any]:
    return {
        "response_type": "ephemeral",
        "text": "Conference rooms: create, list, share and delete them from here.",
        "blocks": [
            section(
                "*Conference rooms*\nCreate a room, share its dial-in details, see who is "
                "in a call. Deleting a room needs an admin's approval."
            ),
            {
                "type": "actions",
                "elements": [
                    button("Create a room", ids.HELP_CREATE, style="primary"),
                    button("List rooms", ids.HELP_LIST),
                ],
            },
            section(USAGE),
        ],
    }


def usage_message(problem: str | None = None) -> dict[str, Any]:
    text = f"{problem}\n\n{USAGE}" if problem else USAGE
    return {"response_type": "ephemeral", "text": text}


def ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text}


# -- the room list -----------------------------------------------------------------------------


def room_line(room: Room, count: int, online: bool) -> str:
    return (
        f"*{esc(room.name)}*: conference ID `{room.conference_id}`, {pin_text(room)}, "
        f"{count_text(count, online)} (limit {room.max_participants})"
    )


def and_more(count: int, what: str) -> str:
    """The last line of a list cut short to fit Slack's limits."""
    return f"…and {count} more {what}{'s' if count != 1 else ''}."


def room_list(
    rooms: Sequence[Room], counts: Mapping[int, int], online: bool, server: Server | None
) -> dict[str, Any]:
    if server is None:
        text = "There is no conference server yet. An admin can set one up: `/conference setup`."
        return {"response_type": "ephemeral", "text": text}
    if not rooms:
        text = "There are no rooms yet. Create one: `/conference create`."
        return {"response_type": "ephemeral", "text": text}
    header = f"*{len(rooms)} room{'s' if len(rooms) != 1 else ''}*, dial {esc(server.dial_in)}"
    if not online:
        header += "\n:warning: PBX offline: live participant counts are unavailable."
    blocks = [section(header)]
    # One block a room, then "and N more" where Slack's 50 blocks a message end.
    shown = rooms if len(rooms) < MESSAGE_BLOCKS else rooms[: MESSAGE_BLOCKS - 2]
    blocks += [section(room_line(r, counts.get(r.id, 0), online)) for r in shown]
    lines = [
        f"{esc(r.name)}: ID {r.conference_id}, {pin_text(r)}, "
        f"{count_text(counts.get(r.id, 0), online)}"
        for r in shown
    ]
    if len(shown) < len(rooms):
        blocks.append(context(and_more(len(rooms) - len(shown), "room")))
        lines.append(and_more(len(rooms) - len(shown), "room"))
    # At most 48 lines of at most ~400 characters: far below the 40,000 of a message.
    return {"response_type": "ephemeral", "text": "\n".join(lines), "blocks": blocks}


# -- room modals -------------------------------------------------------------------------------


def _input(
    block_id: str,
    label: str,
    element: dict[str, Any],
    *,
    optional: bool = False,
    hint: str | None = None,
) -> Block:
    element = {**element, "action_id": ids.INPUT}
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label, 2000),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint, 2000)
    return block


def _text_input(initial: str | None = None, max_length: int | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input"}
    if initial:
        element["initial_value"] = initial
    if max_length:
        element["max_length"] = max_length
    return element


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
    """The create and edit modal. The PIN is never pre-filled, even for its owner."""
    blocks: list[Block] = [
        _input(ids.NAME_BLOCK, "Room name", _text_input(room.name if room else name, 64)),
        _input(
            ids.CONFERENCE_ID_BLOCK,
            "Conference ID",
            _text_input(room.conference_id if room else suggested_id, 10),
            hint="3 to 10 digits; callers type it on their keypad.",
        ),
    ]
    if room is None:
        blocks.append(
            _input(
                ids.PIN_BLOCK,
                "PIN",
                _text_input(max_length=10),
                optional=True,
                hint="4 to 10 digits. Leave empty for a room anyone with the ID can join.",
            )
        )
    else:
        state = "This room has a PIN." if room.has_pin else "This room has no PIN."
        blocks.append(
            _input(
                ids.PIN_BLOCK,
                "New PIN",
                _text_input(max_length=10),
                optional=True,
                hint=f"{state} Type 4 to 10 digits to set or change it; leave empty to keep it.",
            )
        )
        if room.has_pin:
            blocks.append(
                _input(
                    ids.REMOVE_PIN_BLOCK,
                    "Remove the PIN",
                    {
                        "type": "checkboxes",
                        "options": [
                            {"text": plain("Let anyone with the ID join", 75), "value": "remove"}
                        ],
                    },
                    optional=True,
                )
            )
    blocks += [
        _input(
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
        _input(
            ids.LANGUAGE_BLOCK,
            "Prompt language",
            _language_select(room.language if room else "en"),
        ),
    ]
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title),
        "submit": plain(submit),
        "close": plain("Cancel"),
        "private_metadata": json.dumps(dict(metadata or {})),
        "blocks": blocks,
    }


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
        _input(
            ids.REASON_BLOCK,
            "Reason",
            {**_text_input(max_length=500), "multiline": True},
            optional=True,
        ),
    ]
    return {
        "type": "modal",
        "callback_id": ids.DELETE_VIEW,
        "title": plain("Delete room"),
        "submit": plain(submit),
        "close": plain("Cancel"),
        "private_metadata": json.dumps(dict(metadata)),
        "blocks": blocks,
    }


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
        _input(ids.CHANNEL_BLOCK, "Channel", element),
    ]
    if room.has_pin and may_show_pin:
        blocks.append(
            _input(
                ids.INCLUDE_PIN_BLOCK,
                "PIN",
                {
                    "type": "checkboxes",
                    "options": [
                        {
                            "text": plain("Include the PIN: everyone in the channel sees it", 75),
                            "value": "include",
                        }
                    ],
                },
                optional=True,
            )
        )
    return {
        "type": "modal",
        "callback_id": ids.SHARE_VIEW,
        "title": plain("Share dial-in card"),
        "submit": plain("Post"),
        "close": plain("Cancel"),
        "private_metadata": json.dumps({"room_id": room.id}),
        "blocks": blocks,
    }


def apology_view(text: str) -> View:
    return {
        "type": "modal",
        "callback_id": ids.APOLOGY_VIEW,
        "title": plain("Something went wrong"),
        "close": plain("Close"),
        "blocks": [section(text)],
    }


# -- deletion requests -------------------------------------------------------------------------


def deletion_request(request: DeletionRequest, count: int, online: bool) -> dict[str, Any]:
    """The message in the admins' channel, with Approve and Deny."""
    reason = esc(request.reason) if request.reason else "_no reason given_"
    text = (
        f"{who(request.requester)} asks to delete room *{esc(request.room_name)}* "
        f"(conference ID `{request.conference_id}`)."
    )
    confirm = {
        "title": plain("Delete the room?", 100),
        "text": plain(
            f'Room "{esc(request.room_name)}" is deleted and anyone in the call is disconnected.',
            300,
        ),
        "confirm": plain("Delete", 30),
        "deny": plain("Cancel", 30),
        "style": "danger",
    }
    return {
        "text": f"Deletion request #{request.id}: room {esc(request.room_name)}",
        "blocks": [
            section(f"*Deletion request #{request.id}*\n{text}"),
            section(f"*Reason:* {reason}\n*Right now:* {count_text(count, online)}"),
            {
                "type": "actions",
                "block_id": ids.DECISION_BLOCK,
                "elements": [
                    button(
                        "Approve",
                        ids.APPROVE_DELETION,
                        str(request.id),
                        style="danger",
                        confirm=confirm,
                    ),
                    button("Deny", ids.DENY_DELETION, str(request.id)),
                ],
            },
        ],
    }


def deletion_decided(request: DeletionRequest) -> dict[str, Any]:
    """The same message once decided: no buttons, who decided what."""
    verdict = {
        "approved": "approved; the room is deleted",
        "denied": "denied; the room stays",
        "cancelled": "cancelled",
    }.get(request.status.value, request.status.value)
    by = f" by {who(request.decided_by)}" if request.decided_by else ""
    reason = esc(request.reason) if request.reason else "_no reason given_"
    return {
        "text": f"Deletion request #{request.id}: {request.status.value}",
        "blocks": [
            section(
                f"*Deletion request #{request.id}*: room *{esc(request.room_name)}* "
                f"(conference ID `{request.conference_id}`), asked by {who(request.requester)}"
            ),
            section(f"*Reason:* {reason}"),
            section(f"*{verdict.capitalize()}*{by}.", block_id=ids.DECISION_BLOCK),
        ],
    }


# -- dial-in cards and the Home tab ------------------------------------------------------------


def dial_in_card(
    room: Room, server: Server | None, count: int, online: bool, *, include_pin: bool
) -> dict[str, Any]:
    if server is None:
        dial = "The conference server is not set up."
    elif server.phone_number:
        dial = f"*Dial:* {server.phone_number} (or extension {server.extension})"
    else:
        dial = f"*Dial:* extension {server.extension}"
    details = f"{dial}\n*Conference ID:* {room.conference_id}#"
    if room.has_pin:
        details += f"\n*PIN:* {room.pin}#" if include_pin else "\n*PIN:* ask the organiser"
    live = count_text(count, online)
    return {
        "text": f"Join {esc(room.name)}: conference ID {room.conference_id}, {live}",
        "blocks": [
            section(f"*{esc(room.name)}*: conference call"),
            section(details),
            context(f":telephone_receiver: {live}"),
        ],
    }


def deleted_card(room_name: str) -> dict[str, Any]:
    return {
        "text": f"Room {esc(room_name)} was deleted.",
        "blocks": [
            section(f"~{esc(room_name)}~: this room was deleted; its number no longer works.")
        ],
    }


def retired_card(card: dict[str, Any], room: Room) -> dict[str, Any]:
    """A dial-in card's last update, once newer cards of its room took over (only the newest
    few follow the count live)."""
    note = (
        "This card no longer updates live; use "
        f"`/conference info {room.conference_id}` for a fresh one."
    )
    return {**card, "blocks": [*card["blocks"], context(note)]}


def home_view(
    rooms: Sequence[Room], counts: Mapping[int, int], online: bool, server: Server | None
) -> View:
    blocks: list[Block] = [
        {"type": "header", "text": plain("Conference rooms", 150)},
    ]
    if server is None:
        blocks.append(section("No conference server yet. An admin can run `/conference setup`."))
    else:
        status = "" if online else "  :warning: PBX offline: live counts unavailable."
        blocks.append(context(f"Dial {esc(server.dial_in)}, then the conference ID.{status}"))
        blocks.append(
            {
                "type": "actions",
                "elements": [button("Create a room", ids.HELP_CREATE, style="primary")],
            }
        )
    if server is not None and not rooms:
        blocks.append(section("No rooms yet."))
    # 3 blocks a room, then "and N more" where Slack's 100 blocks a view end.
    shown = rooms
    if len(blocks) + 3 * len(rooms) > VIEW_BLOCKS:
        shown = rooms[: (VIEW_BLOCKS - len(blocks) - 1) // 3]
    for room in shown:
        blocks.append({"type": "divider"})
        blocks.append(section(room_line(room, counts.get(room.id, 0), online)))
        value = str(room.id)
        blocks.append(
            {
                "type": "actions",
                "block_id": f"room-{room.id}",
                "elements": [
                    button("Edit", ids.ROOM_EDIT, value),
                    button("Share dial-in card", ids.ROOM_SHARE, value),
                    button("Request deletion", ids.ROOM_DELETE, value, style="danger"),
                ],
            }
        )
    if len(shown) < len(rooms):
        blocks.append(context(and_more(len(rooms) - len(shown), "room")))
    return {"type": "home", "callback_id": ids.HOME_VIEW, "blocks": blocks}
