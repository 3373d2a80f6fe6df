"""Real SIP calls from sipp into a real Asterisk, routed by rooms from the service layer."""

from __future__ import annotations

import asyncio

from telephony.naming import ROOM_KEY, bridge_name, room_family
from telephony.tracker import CallRefused, RoomSnapshot
from tests.pbx_fixtures import TRUNK_IP, Pbx, eventually


async def test_join_with_id_and_pin(shared_pbx: Pbx, make_stack) -> None:
    stack = await make_stack(shared_pbx)
    room = await stack.service.create_room(name="Sales", conference_id="4321", pin="5678",
                                           actor="test")  # fmt: skip
    call = asyncio.create_task(shared_pbx.sipp.call("800", dtmf="4321#5678#", hold_ms=4000))
    await eventually(lambda: stack.tracker.count(room.id) == 1, what="caller in the room")
    assert await stack.counts_agree()
    [person] = stack.tracker.participants(room.id)
    assert person.caller_id_num == "alice" and person.channel.startswith("PJSIP/alice-")
    assert not person.muted
    result = await call
    assert result.ok, result.log
    await eventually(lambda: stack.tracker.count(room.id) == 0, what="caller gone")
    assert await stack.counts_agree()
    counts = [u.count for u in stack.updates if isinstance(u, RoomSnapshot)]
    assert counts[-2:] == [1, 0]


async def test_room_without_pin_and_spanish_prompts(shared_pbx: Pbx, make_stack) -> None:
    stack = await make_stack(shared_pbx)
    room = await stack.service.create_room(name="Open", conference_id="777", language="es",
                                           actor="test")  # fmt: skip
    joined: list[dict[str, str]] = []
    stack.ami.register_event("ConfbridgeJoin", lambda msg: joined.append(dict(msg)))
    call = asyncio.create_task(
        shared_pbx.sipp.call("800", dtmf="777#", hold_ms=2500, caller="bob",
                             password="bob-password-1")
    )  # fmt: skip
    await eventually(lambda: stack.tracker.count(room.id) == 1, what="caller in the room")
    assert joined[-1]["Language"] == "es"
    assert (await call).ok


async def test_wrong_pin_three_times_hangs_up(shared_pbx: Pbx, make_stack) -> None:
    stack = await make_stack(shared_pbx)
    room = await stack.service.create_room(name="Sales", conference_id="4321", pin="5678",
                                           actor="test")  # fmt: skip
    result = await shared_pbx.sipp.call("800", dtmf="4321#1111#2222#3333#",
                                        wait_for_hangup=True)  # fmt: skip
    assert result.ok, result.log
    await eventually(lambda: bool(stack.user_events("ConferencePinFailed")), what="PIN event")
    [failed] = stack.user_events("ConferencePinFailed")
    assert failed["Room"] == str(room.id) and failed["Tries"] == "3"
    assert "5678" not in repr(stack.events)
    assert not any(isinstance(u, RoomSnapshot) and u.count for u in stack.updates)


async def test_unknown_id_three_times_hangs_up(shared_pbx: Pbx, make_stack) -> None:
    stack = await make_stack(shared_pbx)
    await stack.service.create_room(name="Sales", conference_id="4321", actor="test")
    result = await shared_pbx.sipp.call("800", dtmf="999#998#997#", wait_for_hangup=True)
    assert result.ok, result.log
    await eventually(lambda: bool(stack.user_events("ConferenceInvalidId")), what="invalid ID")
    assert stack.user_events("ConferenceInvalidId")[-1]["Tries"] == "3"


async def test_eleventh_caller_refused_and_reported(shared_pbx: Pbx, make_stack) -> None:
    stack = await make_stack(shared_pbx)
    room = await stack.service.create_room(name="Big", conference_id="1010", actor="test")
    callers = [
        asyncio.create_task(shared_pbx.sipp.call("800", dtmf="1010#", hold_ms=12000, tag=f"c{i}"))
        for i in range(10)
    ]
    await eventually(lambda: stack.tracker.count(room.id) == 10, timeout=30, what="ten callers")
    assert await stack.list_rooms() == {bridge_name(room.id): 10}
    assert await stack.counts_agree()
    eleventh = await shared_pbx.sipp.call("800", dtmf="1010#", wait_for_hangup=True, tag="c11")
    assert eleventh.ok, eleventh.log
    await eventually(lambda: any(isinstance(u, CallRefused) for u in stack.updates),
                     what="refusal reported")  # fmt: skip
    refused = [u for u in stack.updates if isinstance(u, CallRefused)]
    assert refused == [CallRefused(room.id, "1010", "alice")]
    assert stack.tracker.count(room.id) == 10
    results = await asyncio.gather(*callers)
    assert all(r.ok for r in results), [r.log for r in results if not r.ok]
    await eventually(lambda: stack.tracker.count(room.id) == 0, what="room empty")
    assert await stack.counts_agree()


async def test_limit_below_ten(shared_pbx: Pbx, make_stack) -> None:
    stack = await make_stack(shared_pbx)
    room = await stack.service.create_room(name="Pair", conference_id="222",
                                           max_participants=2, actor="test")  # fmt: skip
    held = [asyncio.create_task(shared_pbx.sipp.call("800", dtmf="222#", hold_ms=5000))
            for _ in range(2)]  # fmt: skip
    await eventually(lambda: stack.tracker.count(room.id) == 2, what="two callers")
    third = await shared_pbx.sipp.call("800", dtmf="222#", wait_for_hangup=True)
    assert third.ok
    assert stack.tracker.count(room.id) == 2
    await eventually(lambda: any(isinstance(u, CallRefused) for u in stack.updates),
                     what="refusal reported")  # fmt: skip
    assert all(r.ok for r in await asyncio.gather(*held))


async def test_pin_change_applies_to_next_caller(shared_pbx: Pbx, make_stack) -> None:
    stack = await make_stack(shared_pbx)
    room = await stack.service.create_room(name="Sales", conference_id="4321", pin="5678",
                                           actor="test")  # fmt: skip
    await stack.service.update_room("Sales", actor="test", pin="2468")
    old = await shared_pbx.sipp.call("800", dtmf="4321#5678#5678#5678#", wait_for_hangup=True)
    assert old.ok
    await eventually(lambda: bool(stack.user_events("ConferencePinFailed")), what="old PIN fails")
    new = asyncio.create_task(shared_pbx.sipp.call("800", dtmf="4321#2468#", hold_ms=2500))
    await eventually(lambda: stack.tracker.count(room.id) == 1, what="new PIN joins")
    assert (await new).ok
    # And a changed conference ID: the old one is gone, the new one works.
    await stack.service.update_room("Sales", actor="test", conference_id="9876", pin=None)
    moved = asyncio.create_task(shared_pbx.sipp.call("800", dtmf="9876#", hold_ms=2500))
    await eventually(lambda: stack.tracker.count(room.id) == 1, what="new ID joins")
    assert (await moved).ok
    gone = await shared_pbx.sipp.call("800", dtmf="4321#4321#4321#", wait_for_hangup=True)
    assert gone.ok


async def test_deleted_room_refuses_and_disconnects(shared_pbx: Pbx, make_stack) -> None:
    stack = await make_stack(shared_pbx)
    room = await stack.service.create_room(name="Sales", conference_id="4321", actor="test")
    inside = asyncio.create_task(shared_pbx.sipp.call("800", dtmf="4321#", wait_for_hangup=True))
    await eventually(lambda: stack.tracker.count(room.id) == 1, what="caller in the room")
    request = await stack.service.request_deletion("Sales", requester="U1")
    await stack.service.approve_deletion(request.id, admin="U9")
    result = await inside  # the server hung up on them (after a goodbye)
    assert result.ok, result.log
    await eventually(lambda: stack.tracker.count(room.id) == 0, what="room emptied")
    after = await shared_pbx.sipp.call("800", dtmf="4321#4321#4321#", wait_for_hangup=True)
    assert after.ok
    await eventually(lambda: bool(stack.user_events("ConferenceInvalidId")), what="ID refused")


async def test_trunk_call_to_the_assigned_number(shared_pbx: Pbx, make_stack) -> None:
    stack = await make_stack(shared_pbx)
    room = await stack.service.create_room(name="Sales", conference_id="4321", actor="test")
    unassigned = await shared_pbx.sipp.call("+15551234567", local_ip=TRUNK_IP, caller="+1444",
                                            password=None, refused="404")  # fmt: skip
    assert unassigned.ok, unassigned.log
    await stack.service.assign_number("+15551234567", "test")
    for dialed in ["+15551234567", "15551234567"]:
        call = asyncio.create_task(
            shared_pbx.sipp.call(
                dialed,
                dtmf="4321#",
                hold_ms=2000,
                local_ip=TRUNK_IP,
                caller="+14445556666",
                password=None,
            )  # fmt: skip
        )
        await eventually(lambda: stack.tracker.count(room.id) == 1, what=f"trunk call {dialed}")
        assert stack.tracker.participants(room.id)[0].caller_id_num == "+14445556666"
        assert (await call).ok
        await eventually(lambda: stack.tracker.count(room.id) == 0, what="trunk caller gone")
    other = await shared_pbx.sipp.call("+15559999999", local_ip=TRUNK_IP, caller="+1444",
                                       password=None, refused="404")  # fmt: skip
    assert other.ok, other.log


async def test_strangers_and_bad_passwords_are_refused(shared_pbx: Pbx, make_stack) -> None:
    stack = await make_stack(shared_pbx)
    await stack.service.create_room(name="Sales", conference_id="4321", actor="test")
    bad_password = await shared_pbx.sipp.call("800", caller="alice", password="wrong",
                                              refused="")  # fmt: skip
    assert bad_password.ok, bad_password.log
    stranger = await shared_pbx.sipp.call("800", caller="mallory", password="x", refused="")
    assert stranger.ok, stranger.log
    other_extension = await shared_pbx.sipp.call("801", refused="404")
    assert other_extension.ok, other_extension.log
    assert stack.tracker.counts() == {}


async def test_half_written_room_is_refused(shared_pbx: Pbx, make_stack) -> None:
    """Only a room key, no pin key (an interrupted write): callers must not get in."""
    stack = await make_stack(shared_pbx)
    await stack.ami.action({"Action": "DBPut", "Family": room_family("6060"),
                            "Key": ROOM_KEY, "Val": "99"})  # fmt: skip
    try:
        result = await shared_pbx.sipp.call("800", dtmf="6060#6060#6060#", wait_for_hangup=True)
        assert result.ok, result.log
        await eventually(lambda: bool(stack.user_events("ConferenceInvalidId")), what="refused")
        assert stack.tracker.count(99) == 0
    finally:
        await stack.ami.action({"Action": "DBDelTree", "Family": room_family("6060")})
