"""The tracker's event handling, fed AMI messages shaped exactly as Asterisk 22 sends them."""

from __future__ import annotations

import asyncio

from panoramisk.message import Message

from telephony.naming import bridge_name
from telephony.tracker import CallRefused, ParticipantTracker, RoomSnapshot, Update


def event(name: str, **headers: str) -> Message:
    return Message({"Event": name, **headers})


def join(room: int, uid: str, num: str = "1001", muted: str = "No") -> Message:
    return event(
        "ConfbridgeJoin",
        Conference=bridge_name(room),
        Uniqueid=uid,
        Channel=f"PJSIP/{num}-{uid}",
        CallerIDNum=num,
        CallerIDName=f"Phone {num}",
        Admin="No",
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
        (1, 1),
        (1, 1),
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
