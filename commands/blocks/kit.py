"""The pieces every Block Kit payload is built from, and the few texts several of them share.

User text is escaped here (``esc``) before it goes into any mrkdwn; the PIN is never part of
a shared text.
"""

from __future__ import annotations

import re
from typing import Any

from bot.models import Room
from bot.rules import OWNER_PREFIX
from bot.text import printable
from commands import ids

Block = dict[str, Any]
View = dict[str, Any]

MESSAGE_BLOCKS = 50  # Slack's limits: blocks in a message, in a Home tab or modal
VIEW_BLOCKS = 100


def esc(text: str) -> str:
    """Make user text safe inside mrkdwn (no accidental mentions or links)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# Stand-ins for mrkdwn's markers, for text a stranger chose (a caller ID name reaches Slack
# from any phone): "*Bob* :star: moderator" must not turn bold, or pass for a roster mark.
_INERT = str.maketrans({"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb",
                        ":": "\u2236"})  # fmt: skip


def inert(text: str) -> str:
    """``esc``, and mrkdwn's bold, italics, strike, code and emoji markers replaced by
    look-alikes: for caller names and numbers, which strangers choose."""
    return esc(text.translate(_INERT))


_BUTTON_ID = re.compile(r"[0-9]{1,18}")


def parse_id(value: str) -> int | None:
    """The database id a button of ours carries: 1 to 18 ASCII digits (SQLite's integers hold
    them; ``str.isdigit`` also takes "²" and other scripts' digits). None for anything else:
    a forged or garbled value."""
    return int(value) if _BUTTON_ID.fullmatch(value) else None


def shown_value(value: str, limit: int = 40) -> str:
    """A button value no button of ours carries, as an audit line quotes it: cut, and with
    control characters made visible."""
    cut = value if len(value) <= limit else value[:limit] + f"... ({len(value)} characters)"
    return printable(repr(cut))


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


def confirm_dialog(title: str, text: str, confirm: str) -> dict[str, Any]:
    """The "are you sure?" a dangerous button asks before it acts."""
    return {
        "title": plain(title, 100),
        "text": plain(text, 300),
        "confirm": plain(confirm, 30),
        "deny": plain("Cancel", 30),
        "style": "danger",
    }


def input_block(
    block_id: str,
    label: str,
    element: dict[str, Any],
    *,
    optional: bool = False,
    hint: str | None = None,
) -> Block:
    """An input block of a modal; its element's action ID is the shared ``ids.INPUT``."""
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


def text_input(initial: str | None = None, max_length: int | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input"}
    if initial:
        element["initial_value"] = initial
    if max_length:
        element["max_length"] = max_length
    return element


def count_text(count: int, online: bool) -> str:
    if not online:
        return "PBX offline"
    if count == 0:
        return "nobody in the call"
    return "1 person in the call" if count == 1 else f"{count} people in the call"


def pin_text(room: Room) -> str:
    return "PIN required" if room.has_pin else "no PIN"


def room_line(room: Room, count: int, online: bool) -> str:
    """A room as the list and the Home tab show it."""
    return (
        f"*{esc(room.name)}*: conference ID `{room.conference_id}`, {pin_text(room)}, "
        f"{count_text(count, online)} (limit {room.max_participants})"
    )


def and_more(count: int, what: str) -> str:
    """The last line of a list cut short to fit Slack's limits."""
    return f"…and {count} more {what}{'s' if count != 1 else ''}."


def who(actor: str) -> str:
    """An actor string as a person reads it: a Slack mention when it is a Slack user."""
    if actor.startswith(OWNER_PREFIX):
        return f"<@{actor[len(OWNER_PREFIX) :]}>"
    return esc(actor)
