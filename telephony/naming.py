"""The names the bot and Asterisk share: a room's ConfBridge bridge and the AstDB key layout.

Defined here once for Python. The static dialplan (``deploy/templates/extensions.conf``)
reads the same keys and joins the same bridges; it is text, so it keeps a copy with a comment
pointing here: change one, change the other.

AstDB layout (written by ``telephony.astdb``)::

    conference/server/extension       = 800
    conference/server/number          = +15551234567          (absent when none)
    conference/rooms/<CONFID>/room    = stable room id (its bridge is room-<id>)
    conference/rooms/<CONFID>/pin     = PIN digits, or empty for none
    conference/rooms/<CONFID>/max     = participant limit
    conference/rooms/<CONFID>/lang    = en | es

A bridge is named after the room's stable id, not its conference ID, so a re-numbered room
keeps its calls.
"""

from __future__ import annotations

import re

BRIDGE_PREFIX = "room-"

FAMILY = "conference"
SERVER_FAMILY = f"{FAMILY}/server"
ROOMS_FAMILY = f"{FAMILY}/rooms"

# Keys of SERVER_FAMILY
EXTENSION_KEY = "extension"
NUMBER_KEY = "number"
# Keys of room_family(conference_id); ROOM_KEY is written last (telephony.astdb)
PIN_KEY = "pin"
MAX_KEY = "max"
LANG_KEY = "lang"
ROOM_KEY = "room"

# A line of ``database show conference/rooms``: "/conference/rooms/4321/pin : 2468"
_STORED_ROOM = re.compile(rf"^/{re.escape(ROOMS_FAMILY)}/([0-9]+)/")


def bridge_name(room_id: int) -> str:
    """The ConfBridge bridge of the room with stable id ``room_id``."""
    return f"{BRIDGE_PREFIX}{room_id}"


def room_of(bridge: str) -> int | None:
    """The room id of a bridge named by the dialplan, or None for any other bridge."""
    if not bridge.startswith(BRIDGE_PREFIX):
        return None
    rest = bridge[len(BRIDGE_PREFIX) :]
    return int(rest) if rest.isdigit() else None


def room_family(conference_id: str) -> str:
    """The AstDB family holding one room's keys, by the conference ID callers type."""
    return f"{ROOMS_FAMILY}/{conference_id}"


def stored_conference_id(line: str) -> str | None:
    """The conference ID a line of ``database show conference/rooms`` is about, if any."""
    match = _STORED_ROOM.match(line.strip())
    return match.group(1) if match else None
