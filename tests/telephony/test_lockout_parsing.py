"""The lockout entries and events at the edge: caller keys, ``ConferenceLockout`` events and
``DBGetTree`` answers become typed values; what a caller chose never gets through unfiltered."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import deploy
from telephony.lockouts import LockoutEvent, Scope, Stage, caller_text, parse_tree
from telephony.naming import (
    ALERTED_KEY,
    CALLER_SEPARATOR,
    CALLERS_KEY,
    FAILS_KEY,
    ID_SCOPE,
    IVR_GROUP,
    PIN_SCOPE,
    REPORTED_KEY,
    ROOM_SCOPE,
    SINCE_KEY,
    UNTIL_KEY,
    caller_key,
    lockout_family,
    split_caller_key,
)


def test_caller_keys_are_filtered_and_round_trip() -> None:
    assert caller_key("trunk", "+1 (555) 123-4567\r\n<x>") == "trunk~+15551234567x"
    assert caller_key("alice", "") == "alice~"
    assert split_caller_key("trunk~+1555") == ("trunk", "+1555")
    for bad in ("no-separator", "a/b~1", "a~1/2", "a~b~c", "a~1 2"):
        assert split_caller_key(bad) is None
    assert lockout_family("pin", room_id=3, caller="bob~bob") == "conference/lockouts/pin/3/bob~bob"
    assert lockout_family("room", room_id=3) == "conference/lockouts/room/3"
    with pytest.raises(ValueError):
        lockout_family("id", caller="../../rooms")
    assert caller_text("alice", "alice") == "alice"
    assert caller_text("trunk", "") == "no caller ID (trunk)"


def test_an_event_becomes_typed_and_hostile_text_is_dropped() -> None:
    event = LockoutEvent.parse({
        "Event": "UserEvent", "UserEvent": "ConferenceLockout", "Stage": "alert",
        "Scope": "room", "Room": "7", "ConferenceID": "4321<x>", "Caller": "+1555\x1b[2J",
        "Endpoint": "trunk", "Address": "203.0.113.5<script>", "Count": "20",
        "Window": "3600", "Since": "1795732286", "Callers": "+1555-alice-<@U1>-",
        "CallerIDNum": "<!channel>",
    })  # fmt: skip
    assert event is not None
    assert (event.stage, event.scope, event.room_id, event.conference_id) == (
        Stage.ALERT, Scope.ROOM, 7, "4321")  # fmt: skip
    assert (event.caller, event.address, event.callers) == (
        "+15552J", "203.0.113.5c", ("+1555", "alice", "U1"))  # fmt: skip
    assert event.family == "conference/lockouts/room/7"
    assert LockoutEvent.parse({"UserEvent": "ConferencePinFailed"}) is None
    assert LockoutEvent.parse({"UserEvent": "ConferenceLockout", "Stage": "x"}) is None
    calls = LockoutEvent.parse({"UserEvent": "ConferenceLockout", "Stage": "refused",
                                "Scope": "calls", "Caller": "bob", "Endpoint": "bob"})  # fmt: skip
    assert calls is not None and calls.family is None


def test_the_tree_from_dbgettree() -> None:
    tree = parse_tree({
        "/conference/lockouts/pin/3/alice~alice/until": "2000",
        "/conference/lockouts/pin/3/alice~alice/since": "1100",
        "/conference/lockouts/pin/3/alice~alice/reported": "1100",
        "/conference/lockouts/id/trunk~+1555/fails": "900-950-junk",
        "/conference/lockouts/room/3/callers": "+1555-alice",
        "/conference/lockouts/room/3/alerted": "1000",
        "/conference/lockouts/room/3/until": "1500",
        "/conference/lockouts/pin/x/alice~alice/until": "2000",
        "/conference/lockouts/elsewhere/1": "1",
        "/conference/lockouts/stray": "1",
    })  # fmt: skip
    pin, ident = sorted(tree.callers, key=lambda c: c.scope.value, reverse=True)
    assert (pin.scope, pin.room_id, pin.caller, pin.since, pin.until) == (
        Scope.PIN, 3, "alice", 1100, 2000)  # fmt: skip
    assert (ident.scope, ident.endpoint, ident.fails, ident.until) == (
        Scope.ID, "trunk", (900, 950), None)  # fmt: skip
    [room] = tree.rooms
    assert (room.callers, room.alerted, room.locked_until) == (("+1555", "alice"), 1000, 1500)
    assert [c.who for c in tree.active(1600)] == ["alice"] and not tree.locked_rooms(1600)
    assert tree.locked_rooms(1400) == [room]
    assert sorted(tree.other) == [
        "conference/lockouts", "conference/lockouts/elsewhere",
        "conference/lockouts/pin/x/alice~alice"]  # fmt: skip
    assert pin.matches("alice") and ident.matches("+1555") and ident.matches("trunk")
    assert not ident.matches("alice")


def test_the_dialplan_uses_the_lockout_layout_of_naming() -> None:
    """extensions.conf keeps a text copy of the layout: it must agree with telephony.naming."""
    text = (Path(deploy.__file__).parent / "templates" / "extensions.conf").read_text()
    families = dict(re.findall(r"Set\((pinfam|roomfam|idfam)=([^)]+)\)", text))
    assert families == {
        "pinfam": lockout_family(PIN_SCOPE, room_id=0, caller="a~b")
        .replace("/0/", "/${room}/").replace("a~b", "${ckey}"),
        "roomfam": lockout_family(ROOM_SCOPE, room_id=0).replace("/0", "/${room}"),
        "idfam": lockout_family(ID_SCOPE, caller="a~b").replace("a~b", "${ckey}"),
    }  # fmt: skip
    keys = set(re.findall(r"\$\{(?:pinfam|roomfam|idfam|ARG1)\}/([a-z]+)", text))
    assert keys == {FAILS_KEY, SINCE_KEY, UNTIL_KEY, CALLERS_KEY, ALERTED_KEY}
    assert f"Set(ckey=${{cep}}{CALLER_SEPARATOR}${{cnum}})" in text
    assert f"GROUP({IVR_GROUP})" in text and "telephony/naming.py" in text
    assert REPORTED_KEY not in keys  # the bot's alone
