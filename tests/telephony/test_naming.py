"""The names the bot and the dialplan share are defined once (``telephony.naming``); the
dialplan's text copy must agree with them."""

from __future__ import annotations

import re
from pathlib import Path

import deploy
from telephony.naming import (
    BRIDGE_PREFIX,
    EXTENSION_KEY,
    LANG_KEY,
    LIVE_FAMILY,
    MAX_KEY,
    MODPIN_KEY,
    NUMBER_KEY,
    OPTS_KEY,
    PIN_KEY,
    RECORDING_KEY,
    ROOM_KEY,
    SERVER_FAMILY,
    WEBLINK_KEYS,
    WEBLINKS_FAMILY,
    bridge_name,
    room_family,
    room_of,
    stored_conference_id,
)

DIALPLAN = Path(deploy.__file__).parent / "templates" / "extensions.conf"


def test_bridge_names() -> None:
    assert bridge_name(7) == "room-7"
    assert room_of("room-7") == 7
    assert room_of("room-x") is None and room_of("other") is None


def test_stored_keys_name_their_conference_id() -> None:
    assert room_family("4321") == "conference/rooms/4321"
    assert stored_conference_id("/conference/rooms/4321/pin  : 2468") == "4321"
    assert stored_conference_id("  /conference/rooms/12345/room : 7") == "12345"
    assert stored_conference_id("/conference/server/extension : 800") is None
    assert stored_conference_id("1 results found.") is None


def test_the_dialplan_reads_exactly_the_keys_the_sync_writes() -> None:
    text = DIALPLAN.read_text()
    read = set(re.findall(r"DB_EXISTS\(([^)]+)\)", text))
    room = room_family("${confid}")
    assert read == {
        f"{SERVER_FAMILY}/{EXTENSION_KEY}",
        f"{SERVER_FAMILY}/{NUMBER_KEY}",
        *(f"{room}/{key}" for key in (ROOM_KEY, PIN_KEY, MAX_KEY, LANG_KEY, MODPIN_KEY, OPTS_KEY)),
        f"{LIVE_FAMILY}/${{room}}/{RECORDING_KEY}",
        # Browser join (issue 12): a link's keys, by its endpoint id.
        *(f"{WEBLINKS_FAMILY}/${{link}}/{key}" for key in WEBLINK_KEYS),
    }
    assert f"ConfBridge({BRIDGE_PREFIX}${{room}})" in text
    assert "telephony/naming.py" in text  # the text copy points at the one definition
