"""Moderators and the per-room call options, through real sipp calls into a real Asterisk:
the moderator PIN makes a ConfBridge admin (into a full or locked room), a wrong one is a
wrong PIN, start muted, wait for a moderator (music until one joins) and end with the last
moderator (everyone hung up)."""

from __future__ import annotations

import asyncio
from typing import Any

from telephony.naming import bridge_name, lockout_family
from tests.pbx_fixtures import Pbx, Stack, eventually
from tests.telephony.sipp import allow_go_ahead, go_ahead


class Events:
    """The AMI events of a few kinds, in arrival order."""

    def __init__(self, stack: Stack, *names: str) -> None:
        self.seen: list[dict[str, str]] = []
        for name in names:
            stack.ami.register_event(name, lambda msg: self.seen.append(dict(msg)))

    def of(self, event: str, **fields: str) -> list[dict[str, str]]:
        return [e for e in self.seen if e.get("Event") == event
                and all(e.get(k) == v for k, v in fields.items())]  # fmt: skip

    async def one(self, event: str, what: str, **fields: str) -> dict[str, str]:
        await eventually(lambda: bool(self.of(event, **fields)), what=what)
        return self.of(event, **fields)[0]


async def room_info(stack: Stack, room_id: int) -> dict[str, str]:
    """ConfbridgeListRooms' line for the room (empty when no call)."""
    rooms = await stack.ami.list_action({"Action": "ConfbridgeListRooms"})
    return next((dict(m) for m in rooms if m.get("Conference") == bridge_name(room_id)), {})


async def members(stack: Stack, room_id: int) -> list[dict[str, str]]:
    """ConfbridgeList: one entry per caller, with Admin, MarkedUser, Waiting, Muted."""
    listed = await stack.ami.list_action(
        {"Action": "ConfbridgeList", "Conference": bridge_name(room_id)}
    )
    return [dict(m) for m in listed]


async def test_moderator_pin_gets_into_a_full_room_as_admin(shared_pbx: Pbx, make_stack) -> None:
    stack = await make_stack(shared_pbx)
    events = Events(stack, "ConfbridgeJoin")
    room = await stack.service.create_room(
        name="Pair", conference_id="4321", pin="1111", moderator_pin="9999",
        max_participants=1, actor="test",
    )  # fmt: skip
    first = asyncio.create_task(shared_pbx.sipp.call("800", dtmf="4321#1111#", hold_ms=12000,
                                                     tag="full-first"))  # fmt: skip
    await events.one("ConfbridgeJoin", "the participant in", CallerIDNum="alice")
    # A second participant is refused: the room is full.
    refused = await shared_pbx.sipp.call("800", dtmf="4321#1111#", wait_for_hangup=True,
                                         tag="full-refused")  # fmt: skip
    assert refused.ok, refused.log
    await eventually(lambda: bool(stack.user_events("ConferenceFull")), what="refused as full")
    # The moderator PIN gets in all the same, as a marked admin.
    moderator = asyncio.create_task(
        shared_pbx.sipp.call(
            "800",
            dtmf="4321#9999#",
            hold_ms=2500,
            tag="full-mod",
            caller="bob",
            password="bob-password-1",
        )
    )
    joined = await events.one("ConfbridgeJoin", "the moderator in", CallerIDNum="bob")
    assert joined["Admin"] == "Yes" and joined["Muted"] == "No"
    assert events.of("ConfbridgeJoin", CallerIDNum="alice")[0]["Admin"] == "No"
    listed = {m["CallerIDNum"]: m for m in await members(stack, room.id)}
    assert listed["bob"]["MarkedUser"] == "Yes" and listed["alice"]["MarkedUser"] == "No"
    assert (await room_info(stack, room.id))["Parties"] == "2"
    assert "9999" not in repr(stack.events) and "1111" not in repr(stack.events)
    assert (await moderator).ok and (await first).ok


async def test_moderator_gets_into_a_locked_room(shared_pbx: Pbx, make_stack) -> None:
    stack = await make_stack(shared_pbx)
    events = Events(stack, "ConfbridgeJoin")
    room = await stack.service.create_room(name="Board", conference_id="5432", pin="1111",
                                           moderator_pin="9999", actor="test")  # fmt: skip
    first = asyncio.create_task(shared_pbx.sipp.call("800", dtmf="5432#1111#", hold_ms=7000,
                                                     tag="locked-first"))  # fmt: skip
    await events.one("ConfbridgeJoin", "first caller in", CallerIDNum="alice")
    await stack.ami.action({"Action": "ConfbridgeLock", "Conference": bridge_name(room.id)})
    assert (await room_info(stack, room.id))["Locked"] == "Yes"

    participant = await shared_pbx.sipp.call("800", dtmf="5432#1111#", wait_for_hangup=True,
                                             tag="locked-out")  # fmt: skip
    assert participant.ok, participant.log
    await eventually(lambda: bool(stack.user_events("ConferenceLocked")), what="locked prompt")
    assert len(events.of("ConfbridgeJoin")) == 1
    moderator = asyncio.create_task(
        shared_pbx.sipp.call(
            "800",
            dtmf="5432#9999#",
            hold_ms=2500,
            tag="locked-mod",
            caller="bob",
            password="bob-password-1",
        )
    )
    joined = await events.one("ConfbridgeJoin", "the moderator in", CallerIDNum="bob")
    assert joined["Admin"] == "Yes"
    assert len(stack.user_events("ConferenceLocked")) == 1
    assert (await moderator).ok and (await first).ok


async def test_a_wrong_moderator_pin_is_a_wrong_pin(shared_pbx: Pbx, make_stack) -> None:
    """A room with a moderator PIN and no PIN: an empty entry joins as a participant, a
    wrong one counts toward the caller's lockout like any wrong PIN."""
    stack = await make_stack(shared_pbx)
    events = Events(stack, "ConfbridgeJoin")
    room = await stack.service.create_room(name="Open", conference_id="6543",
                                           moderator_pin="9999", actor="test")  # fmt: skip
    guest = asyncio.create_task(shared_pbx.sipp.call("800", dtmf="6543##", hold_ms=2000,
                                                     tag="empty-pin", caller="bob",
                                                     password="bob-password-1"))  # fmt: skip
    joined = await events.one("ConfbridgeJoin", "empty entry joins", CallerIDNum="bob")
    assert joined["Admin"] == "No"
    assert (await guest).ok

    wrong = await shared_pbx.sipp.call("800", dtmf="6543#1234#2345#3456#",
                                       wait_for_hangup=True, tag="wrong-mod")  # fmt: skip
    assert wrong.ok, wrong.log
    await eventually(lambda: bool(stack.user_events("ConferencePinFailed")), what="PIN failed")
    [failed] = stack.user_events("ConferencePinFailed")
    assert failed["Room"] == str(room.id) and failed["Tries"] == "3"
    family = lockout_family("pin", room_id=room.id, caller="alice~alice")
    tree = await stack.ami.list_action({"Action": "DBGetTree", "Family": family}, strict=True)
    fails = {m["Key"].rsplit("/", 1)[-1]: m["Val"] for m in tree}["fails"]
    assert len(fails.split("-")) == 3  # three wrong PINs counted
    assert len(events.of("ConfbridgeJoin")) == 1


async def test_start_muted_mutes_participants_not_moderators(shared_pbx: Pbx, make_stack) -> None:
    stack = await make_stack(shared_pbx)
    events = Events(stack, "ConfbridgeJoin")
    await stack.service.create_room(
        name="Quiet", conference_id="7654", pin="1111", moderator_pin="9999", actor="test",
        options={"start_muted": True},
    )  # fmt: skip
    participant = asyncio.create_task(
        shared_pbx.sipp.call("800", dtmf="7654#1111#", hold_ms=4000, tag="muted-part")
    )
    assert (await events.one("ConfbridgeJoin", "participant", CallerIDNum="alice"))[
        "Muted"
    ] == "Yes"
    moderator = asyncio.create_task(
        shared_pbx.sipp.call(
            "800",
            dtmf="7654#9999#",
            hold_ms=1500,
            tag="muted-mod",
            caller="bob",
            password="bob-password-1",
        )
    )
    assert (await events.one("ConfbridgeJoin", "moderator", CallerIDNum="bob"))["Muted"] == "No"
    assert (await moderator).ok and (await participant).ok


async def test_callers_wait_with_music_until_a_moderator_joins(
    shared_pbx: Pbx, make_stack: Any
) -> None:
    stack = await make_stack(shared_pbx)
    await allow_go_ahead(stack.ami, shared_pbx.cfg.etc_dir)
    events = Events(stack, "ConfbridgeJoin", "MusicOnHoldStart", "MusicOnHoldStop")
    room = await stack.service.create_room(
        name="Waiting", conference_id="8765", pin="1111", moderator_pin="9999", actor="test",
        options={"wait_for_moderator": True, "end_with_moderator": True},
    )  # fmt: skip
    # The participant waits; it is hung up when the last moderator leaves.
    participant = asyncio.create_task(shared_pbx.sipp.call(
        "800", dtmf="8765#1111#", wait_for_hangup=True, tag="wait-part"))  # fmt: skip
    joined = await events.one("ConfbridgeJoin", "participant waiting", CallerIDNum="alice")
    channel = joined["Channel"]
    music = await events.one("MusicOnHoldStart", "music for the waiting caller", Channel=channel)
    assert music["Class"] == "default"
    [waiting] = await members(stack, room.id)
    assert waiting["Waiting"] == "Yes" and waiting["WaitMarked"] == "Yes"
    assert (await room_info(stack, room.id))["Marked"] == "0"

    moderator = asyncio.create_task(shared_pbx.sipp.call(
        "800", dtmf="8765#9999#!", hold_ms=0, tag="wait-mod", caller="bob",
        password="bob-password-1"))  # fmt: skip
    mod = await events.one("ConfbridgeJoin", "moderator in", CallerIDNum="bob")
    await events.one("MusicOnHoldStop", "music stops", Channel=channel)

    async def connected() -> bool:
        listed = {m["CallerIDNum"]: m for m in await members(stack, room.id)}
        return listed.get("alice", {}).get("Waiting") == "No" and "bob" in listed

    await eventually(connected, what="the participant connected to the moderator")
    # The moderator leaves (hangs up): the participant's call ends too (end_marked).
    await go_ahead(stack.ami, mod["Channel"])
    done = await moderator
    assert done.ok, done.log
    result = await participant
    assert result.ok, result.log  # got the PBX's BYE
    await eventually(lambda: stack.tracker.count(room.id) == 0, what="room empty")
