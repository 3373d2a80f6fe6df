"""The keypad menus over SIP INFO digits, and the recording notices, against a real
Asterisk: a moderator's *1 *2 *0 *3 *4 *#, a participant's *1 and *# (and a *2 that does
nothing), the notice a caller hears on joining a recorded call, and the announcer the bot
originates into a room."""

from __future__ import annotations

import asyncio

from telephony.naming import RECORDING_KEY, bridge_name, live_family
from tests.pbx_fixtures import Pbx, Stack, eventually
from tests.telephony.sipp import allow_go_ahead, go_ahead
from tests.telephony.test_moderators import Events, members, room_info

# A moderator's keys after each go-ahead: ConfBridge answers most with a prompt (up to
# 2.4 s in English) that keys sent meanwhile would be lost in, so the caller waits ",,,".
# A last "!" after *#: the PBX's BYE comes at once, and is awaited there.
MODERATOR = "4321#9999#!*1!,,,*2!,,,*0!,,,*3!,,,*4!*#!"
PARTICIPANT = "4321#1111#!*2*1!,,,*#!"


async def test_keypad_menus(shared_pbx: Pbx, make_stack) -> None:
    stack = await make_stack(shared_pbx)
    await allow_go_ahead(stack.ami, shared_pbx.cfg.etc_dir)
    events = Events(stack, "ConfbridgeJoin", "ConfbridgeLeave", "ConfbridgeMute")
    room = await stack.service.create_room(name="Menu", conference_id="4321", pin="1111",
                                           moderator_pin="9999", actor="test")  # fmt: skip
    first = asyncio.create_task(shared_pbx.sipp.call(
        "800", dtmf=PARTICIPANT, wait_for_hangup=True, tag="menu-first"))  # fmt: skip
    p1 = (await events.one("ConfbridgeJoin", "first participant", CallerIDNum="alice"))["Channel"]
    moderator = asyncio.create_task(shared_pbx.sipp.call(
        "800", dtmf=MODERATOR, wait_for_hangup=True, tag="menu-mod", caller="bob",
        password="bob-password-1"))  # fmt: skip
    mod = (await events.one("ConfbridgeJoin", "moderator", CallerIDNum="bob"))["Channel"]
    last = asyncio.create_task(shared_pbx.sipp.call(
        "800", dtmf="4321#1111#", wait_for_hangup=True, tag="menu-last"))  # fmt: skip
    await eventually(lambda: len(events.of("ConfbridgeJoin")) == 3, what="last participant")
    p2 = events.of("ConfbridgeJoin")[2]["Channel"]

    async def state(channel: str) -> dict[str, str]:
        return next((m for m in await members(stack, room.id) if m["Channel"] == channel), {})

    # A participant's *2 does nothing; its *1 (sent after it) mutes it.
    await go_ahead(stack.ami, p1)
    await events.one("ConfbridgeMute", "participant muted itself", Channel=p1)
    assert (await room_info(stack, room.id))["Locked"] == "No"
    # The moderator: *1 mutes itself.
    await go_ahead(stack.ami, mod)
    await events.one("ConfbridgeMute", "moderator muted itself", Channel=mod)
    # *2 locks the room.
    await go_ahead(stack.ami, mod)

    async def locked() -> bool:
        return (await room_info(stack, room.id)).get("Locked") == "Yes"

    await eventually(locked, what="room locked by *2")
    # ... and says so (Asterisk has no lock event): the stack's tracker shows it at once.
    await eventually(lambda: bool(stack.user_events("ConferenceLockToggled")), what="*2 event")
    await eventually(lambda: stack.tracker.room_state(room.id).locked, what="tracker locked")
    # *0 mutes everyone but the moderators.
    assert (await state(p2))["Muted"] == "No"
    await go_ahead(stack.ami, mod)

    async def others_muted() -> bool:
        return (await state(p2)).get("Muted") == "Yes"

    await eventually(others_muted, what="*0 muted the participants")
    # *3 kicks the last caller who joined: it hears goodbye and gets a BYE.
    await go_ahead(stack.ami, mod)
    kicked = await last
    assert kicked.ok, kicked.log
    await events.one("ConfbridgeLeave", "last participant kicked", Channel=p2)
    assert not events.of("ConfbridgeLeave", Channel=p1)
    # *4 asks the bot to start recording; *# leaves.
    await go_ahead(stack.ami, mod)
    await eventually(lambda: bool(stack.user_events("ConferenceRecordToggle")), what="*4 event")
    [toggle] = stack.user_events("ConferenceRecordToggle")
    assert toggle["Room"] == str(room.id) and toggle["Caller"] == "bob"
    assert "9999" not in repr(stack.events) and "1111" not in repr(stack.events)
    await go_ahead(stack.ami, mod)
    left = await moderator
    assert left.ok, left.log
    await events.one("ConfbridgeLeave", "moderator left with *#", Channel=mod)
    # The first participant leaves with *#.
    await go_ahead(stack.ami, p1)
    done = await first
    assert done.ok, done.log
    await eventually(lambda: stack.tracker.count(room.id) == 0, what="room empty")


async def _playbacks(stack: Stack, seen: set[tuple[str, str]]) -> None:
    """What each channel is playing now (CoreShowChannels: Application, ApplicationData)."""
    for line in await stack.ami.list_action({"Action": "CoreShowChannels"}):
        if line.get("Application") == "Playback":
            seen.add((str(line.get("Channel")), str(line.get("ApplicationData"))))


async def test_a_caller_joining_a_recorded_call_hears_so(shared_pbx: Pbx, make_stack) -> None:
    stack = await make_stack(shared_pbx)
    events = Events(stack, "ConfbridgeJoin")
    room = await stack.service.create_room(name="Rec", conference_id="5432", actor="test")
    family = live_family(room.id)
    await stack.ami.action({"Action": "DBPut", "Family": family, "Key": RECORDING_KEY, "Val": "1"})
    seen: set[tuple[str, str]] = set()

    async def joined_watching(count: int) -> bool:
        await _playbacks(stack, seen)
        return len(events.of("ConfbridgeJoin")) == count

    try:
        call = asyncio.create_task(shared_pbx.sipp.call("800", dtmf="5432#", hold_ms=4000,
                                                        tag="rec-notice"))  # fmt: skip
        await eventually(lambda: joined_watching(1), what="the caller joins")
        channel = events.of("ConfbridgeJoin")[0]["Channel"]
        assert (channel, "conf-now-recording") in seen
        assert (await call).ok
    finally:
        await stack.ami.action({"Action": "DBDelTree", "Family": family})
    # Not recorded any more: the next caller joins without the notice.
    seen.clear()
    call = asyncio.create_task(shared_pbx.sipp.call("800", dtmf="5432#", hold_ms=1000,
                                                    tag="rec-none"))  # fmt: skip
    await eventually(lambda: joined_watching(2), what="the second caller joins")
    assert not any(data == "conf-now-recording" for _, data in seen)
    assert (await call).ok


async def test_the_announcer_tells_a_locked_room(shared_pbx: Pbx, make_stack) -> None:
    """The Originate the bot sends when a recording starts (extensions.conf documents it):
    the ;1 half joins a locked room as an admin, the ;2 half plays the notice, both go."""
    stack = await make_stack(shared_pbx)
    events = Events(stack, "ConfbridgeJoin", "ConfbridgeLeave")
    room = await stack.service.create_room(name="Told", conference_id="6543", language="es",
                                           actor="test")  # fmt: skip
    call = asyncio.create_task(shared_pbx.sipp.call("800", dtmf="6543#", hold_ms=9000,
                                                    tag="announce"))  # fmt: skip
    await events.one("ConfbridgeJoin", "caller in", CallerIDNum="alice")
    await stack.ami.action({"Action": "ConfbridgeLock", "Conference": bridge_name(room.id)})
    await stack.ami.action({
        "Action": "Originate", "Channel": "Local/recording-on@conference-announce",
        "Application": "ConfBridge",
        "Data": f"{bridge_name(room.id)},conference-bridge,conference-announcer",
        "Variable": "lang=es", "Async": "true",
    })  # fmt: skip
    seen: set[tuple[str, str]] = set()

    def announcer(line: dict[str, str]) -> bool:
        return line["Channel"].startswith("Local/recording-on@conference-announce-")

    async def announced() -> bool:
        await _playbacks(stack, seen)
        return any(announcer(e) for e in events.of("ConfbridgeLeave"))

    await eventually(announced, what="the announcer joins, plays and leaves")
    [joined] = [e for e in events.of("ConfbridgeJoin") if announcer(e)]
    assert joined["Admin"] == "Yes" and joined["Channel"].endswith(";1")
    played = [(ch, data) for ch, data in seen if ch.startswith("Local/recording-on@")]
    assert played and all(ch.endswith(";2") and data == "conf-now-recording"
                          for ch, data in played)  # fmt: skip
    assert [m["CallerIDNum"] for m in await members(stack, room.id)] == ["alice"]
    assert (await call).ok
