"""The tracker's event handling, fed AMI messages shaped exactly as Asterisk 22 sends them."""

from __future__ import annotations

import asyncio

from panoramisk.message import Message

from telephony.naming import bridge_name
from telephony.tracker import (
    CallRefused,
    ParticipantTracker,
    RecordingStopped,
    RoomSnapshot,
    RoomState,
    Update,
)


def event(name: str, **headers: str) -> Message:
    return Message({"Event": name, **headers})


def join(room: int, uid: str, num: str = "1001", muted: str = "No", admin: str = "No",
         channel: str | None = None) -> Message:  # fmt: skip
    return event(
        "ConfbridgeJoin",
        Conference=bridge_name(room),
        Uniqueid=uid,
        Channel=channel or f"PJSIP/{num}-{uid}",
        CallerIDNum=num,
        CallerIDName=f"Phone {num}",
        Admin=admin,
        Muted=muted,
        Timestamp="1764160000.123456",
    )


def leave(room: int, uid: str) -> Message:
    return event("ConfbridgeLeave", Conference=bridge_name(room), Uniqueid=uid)


async def collect(tracker: ParticipantTracker) -> list[Update]:
    seen: list[Update] = []

    async def listener(update: Update) -> None:
        seen.append(update)

    tracker.add_listener(listener)
    return seen


async def test_join_leave_mute_counts_and_notifications() -> None:
    tracker = ParticipantTracker()
    seen = await collect(tracker)
    tracker._on_join(join(1, "a.1", "1001"))
    tracker._on_join(join(1, "a.2", "1002", muted="Yes"))
    tracker._on_join(join(2, "b.1", "2001"))
    tracker._on_join(event("ConfbridgeJoin", Conference="someone-elses", Uniqueid="x"))
    assert tracker.counts() == {1: 2, 2: 1}
    people = tracker.participants(1)
    assert [p.caller_id_num for p in people] == ["1001", "1002"]
    assert people[1].muted and not people[0].muted
    assert people[0].caller == "Phone 1001 <1001>"
    assert people[0].joined_at == 1764160000.123456

    tracker._on_mute(event("ConfbridgeMute", Conference=bridge_name(1), Uniqueid="a.1"))
    assert tracker.participants(1)[0].muted
    tracker._on_unmute(event("ConfbridgeUnmute", Conference=bridge_name(1), Uniqueid="a.1"))
    assert not tracker.participants(1)[0].muted

    tracker._on_leave(leave(1, "a.1"))
    tracker._on_leave(leave(1, "never-joined"))
    assert tracker.count(1) == 1
    tracker._on_end(event("ConfbridgeEnd", Conference=bridge_name(2)))
    assert tracker.count(2) == 0
    await asyncio.sleep(0)
    snapshots = [u for u in seen if isinstance(u, RoomSnapshot)]
    assert [(s.room_id, s.count) for s in snapshots] == [
        (1, 1),
        (1, 2),
        (2, 1),
        (1, 2),
        (1, 2),
        (1, 1),  # a leave of someone never seen publishes nothing
        (2, 0),
    ]


async def test_full_room_refusal_is_published() -> None:
    tracker = ParticipantTracker()
    seen = await collect(tracker)
    tracker._on_user_event(
        event(
            "UserEvent",
            UserEvent="ConferenceFull",
            Room="3",
            ConferenceID="4321",
            CallerIDNum="1011",
        )
    )
    tracker._on_user_event(event("UserEvent", UserEvent="SomethingElse", Room="3"))
    await asyncio.sleep(0)
    assert seen == [CallRefused(3, "4321", "1011")]


def talking(room: int, uid: str, status: str) -> Message:
    return event("ConfbridgeTalking", Conference=bridge_name(room), Uniqueid=uid,
                 TalkingStatus=status)  # fmt: skip


async def test_talking_and_the_moderator_mark() -> None:
    tracker = ParticipantTracker()
    seen = await collect(tracker)
    tracker._on_join(join(1, "a.1", "1001", admin="Yes"))
    tracker._on_join(join(1, "a.2", "1002"))
    mod, caller = tracker.participants(1)
    assert mod.moderator and not caller.moderator
    tracker._on_talking(talking(1, "a.2", "on"))
    tracker._on_talking(talking(1, "a.2", "on"))  # no change: nothing published
    assert [p.talking for p in tracker.participants(1)] == [False, True]
    tracker._on_talking(talking(1, "a.2", "off"))
    assert not tracker.participants(1)[1].talking
    tracker._on_talking(talking(1, "a.2", "on"))
    tracker._on_leave(leave(1, "a.2"))  # hung up mid-word: no "off" ever comes
    tracker._on_join(join(1, "a.2", "1002"))  # the same channel id back: not talking
    assert not tracker.participants(1)[1].talking
    await asyncio.sleep(0)
    flags = [[p.talking for p in u.participants] for u in seen if isinstance(u, RoomSnapshot)]
    assert flags == [[False], [False, False], [False, True], [False, False], [False, True],
                     [False], [False, False]]  # fmt: skip


async def test_announcer_and_recorder_channels_are_not_participants() -> None:
    tracker = ParticipantTracker()
    seen = await collect(tracker)
    tracker._on_join(join(1, "a.1", "1001"))
    announcer = "Local/recording-on@conference-announce-00000001;1"
    tracker._on_join(join(1, "l.1", "recording-on", admin="Yes", channel=announcer))
    tracker._on_join(join(1, "r.1", "", channel="CBRec/conf-room-1-uid"))
    assert tracker.count(1) == 1 and tracker.counts() == {1: 1}
    tracker._on_leave(leave(1, "l.1"))
    await asyncio.sleep(0)
    assert [u.count for u in seen if isinstance(u, RoomSnapshot)] == [1]


async def test_recording_state_and_the_file_when_it_stops() -> None:
    tracker = ParticipantTracker()
    seen = await collect(tracker)
    conf = bridge_name(4)
    tracker._on_join(join(4, "a.1"))
    assert tracker.room_state(4) == RoomState(locked=False, recording=False)
    tracker._states[4] = RoomState(locked=True)  # as ConfbridgeListRooms says (no event)
    tracker.expect_recording(4, "/rec/room-4-a.wav")
    tracker._on_record(event("ConfbridgeRecord", Conference=conf))
    assert tracker.room_state(4) == RoomState(locked=True, recording=True)
    assert tracker.recording_file(4) == "/rec/room-4-a.wav"
    snap = tracker.snapshot(4)
    assert snap.locked and snap.recording
    tracker._on_stop_record(event("ConfbridgeStopRecord", Conference=conf))
    tracker._states[4] = RoomState()
    assert tracker.room_state(4) == RoomState() and tracker.recording_file(4) is None

    # The call ends while recording: the recording ends with it.
    tracker.expect_recording(4, "/rec/room-4-b.wav")
    tracker._on_record(event("ConfbridgeRecord", Conference=conf))
    tracker._on_end(event("ConfbridgeEnd", Conference=conf))
    assert tracker.room_state(4) == RoomState() and tracker.count(4) == 0
    await asyncio.sleep(0)
    stopped = [u for u in seen if isinstance(u, RecordingStopped)]
    assert stopped == [RecordingStopped(4, "/rec/room-4-a.wav"),
                       RecordingStopped(4, "/rec/room-4-b.wav")]  # fmt: skip
    states = [(u.locked, u.recording) for u in seen if isinstance(u, RoomSnapshot)]
    assert states == [(False, False), (True, True), (True, False), (False, True),
                      (False, False)]  # fmt: skip
