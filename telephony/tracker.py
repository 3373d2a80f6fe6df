"""Who is in which room, from ConfBridge events, reconciled on every (re)connect."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from panoramisk.message import Message

from telephony.ami import AmiClient
from telephony.background import Background
from telephony.naming import bridge_name, room_of

log = logging.getLogger(__name__)


def _yes(value: Any) -> bool:
    return str(value).strip().lower() in {"yes", "true", "1"}


@dataclass(frozen=True, slots=True)
class Participant:
    uniqueid: str
    channel: str
    caller_id_num: str
    caller_id_name: str
    joined_at: float  # epoch seconds
    muted: bool = False
    admin: bool = False

    @property
    def caller(self) -> str:
        name = self.caller_id_name if self.caller_id_name not in ("", "<unknown>") else ""
        num = self.caller_id_num if self.caller_id_num not in ("", "<unknown>") else ""
        if name and num and name != num:
            return f"{name} <{num}>"
        return name or num or "unknown caller"


@dataclass(frozen=True, slots=True)
class RoomSnapshot:
    """A room's participants after a change."""

    room_id: int
    participants: tuple[Participant, ...]
    event_time: float | None = None  # Asterisk's timestamp of the event behind this change

    @property
    def count(self) -> int:
        return len(self.participants)


@dataclass(frozen=True, slots=True)
class CallRefused:
    """A caller was turned away because the room was full (ConfBridge sends no event)."""

    room_id: int
    conference_id: str
    caller_id_num: str


@dataclass(frozen=True, slots=True)
class PbxStatus:
    online: bool


Update = RoomSnapshot | CallRefused | PbxStatus
Listener = Callable[[Update], Awaitable[None]]


class ParticipantTracker:
    """Live participants keyed by channel Uniqueid, published to listeners on every change."""

    def __init__(self) -> None:
        self._rooms: dict[int, dict[str, Participant]] = {}
        self._listeners: list[Listener] = []
        self._reconciling = False
        self._replay: list[Message] = []
        self._background = Background(log, "tracker listener failed")
        self.online = False
        self._ami: AmiClient | None = None

    # -- wiring ---------------------------------------------------------------------------

    def subscribe(self, ami: AmiClient) -> None:
        """Every AMI event the tracker handles, in one place."""
        self._ami = ami
        ami.register_event("ConfbridgeJoin", self._on_join)
        ami.register_event("ConfbridgeLeave", self._on_leave)
        ami.register_event("ConfbridgeStart", self._on_start)
        ami.register_event("ConfbridgeEnd", self._on_end)
        ami.register_event("ConfbridgeMute", self._on_mute)
        ami.register_event("ConfbridgeUnmute", self._on_unmute)
        ami.register_event("UserEvent", self._on_user_event)
        ami.on_ready(self.reconcile)
        ami.on_down(self._went_down)

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # -- queries --------------------------------------------------------------------------

    def count(self, room_id: int) -> int:
        return len(self._rooms.get(room_id, {}))

    def participants(self, room_id: int) -> tuple[Participant, ...]:
        people = self._rooms.get(room_id, {}).values()
        return tuple(sorted(people, key=lambda p: p.joined_at))

    def counts(self) -> dict[int, int]:
        return {room: len(people) for room, people in self._rooms.items() if people}

    def snapshot(self, room_id: int) -> RoomSnapshot:
        return RoomSnapshot(room_id, self.participants(room_id))

    # -- events ---------------------------------------------------------------------------

    def _room_event(self, msg: Message) -> int | None:
        room = room_of(str(msg.get("Conference", "")))
        if room is not None and self._reconciling:
            self._replay.append(msg)
        return room

    def _on_join(self, msg: Message) -> None:
        room = self._room_event(msg)
        if room is None:
            return
        self._apply_join(room, msg)
        self._publish(room, msg)

    def _apply_join(self, room: int, msg: Message) -> None:
        person = Participant(
            uniqueid=str(msg.get("Uniqueid", "")),
            channel=str(msg.get("Channel", "")),
            caller_id_num=str(msg.get("CallerIDNum", "")),
            caller_id_name=str(msg.get("CallerIDName", "")),
            joined_at=_event_time(msg) or time.time(),
            muted=_yes(msg.get("Muted", "no")),
            admin=_yes(msg.get("Admin", "no")),
        )
        self._rooms.setdefault(room, {})[person.uniqueid] = person

    def _on_leave(self, msg: Message) -> None:
        room = self._room_event(msg)
        if room is None:
            return
        self._rooms.get(room, {}).pop(str(msg.get("Uniqueid", "")), None)
        self._publish(room, msg)

    def _on_start(self, msg: Message) -> None:
        room = self._room_event(msg)
        if room is not None:
            self._rooms.setdefault(room, {})

    def _on_end(self, msg: Message) -> None:
        room = self._room_event(msg)
        if room is None:
            return
        if self._rooms.pop(room, None):
            self._publish(room, msg)

    def _set_muted(self, msg: Message, muted: bool) -> None:
        room = self._room_event(msg)
        if room is None:
            return
        people = self._rooms.get(room, {})
        uid = str(msg.get("Uniqueid", ""))
        if uid in people:
            people[uid] = replace(people[uid], muted=muted)
            self._publish(room, msg)

    def _on_mute(self, msg: Message) -> None:
        self._set_muted(msg, True)

    def _on_unmute(self, msg: Message) -> None:
        self._set_muted(msg, False)

    def _on_user_event(self, msg: Message) -> None:
        if str(msg.get("UserEvent", "")) != "ConferenceFull":
            return
        room = str(msg.get("Room", ""))
        if not room.isdigit():
            return
        refused = CallRefused(
            int(room), str(msg.get("ConferenceID", "")), str(msg.get("CallerIDNum", ""))
        )
        log.info("room %s full: a caller was turned away", room)
        self._emit(refused)

    # -- reconcile ------------------------------------------------------------------------

    async def reconcile(self) -> None:
        """Rebuild state from ConfbridgeListRooms/ConfbridgeList; publish what differs."""
        ami = self._ami
        if ami is None:
            return
        self._reconciling = True
        self._replay = []
        try:
            fresh: dict[int, dict[str, Participant]] = {}
            for conf in await ami.list_action({"Action": "ConfbridgeListRooms"}):
                room = room_of(str(conf.get("Conference", "")))
                if room is None:
                    continue
                people: dict[str, Participant] = {}
                listing = await ami.list_action(
                    {"Action": "ConfbridgeList", "Conference": bridge_name(room)}
                )
                now = time.time()
                for entry in listing:
                    uid = str(entry.get("Uniqueid", "") or entry.get("Channel", ""))
                    answered = _float(entry.get("AnsweredTime", ""))
                    old = self._rooms.get(room, {}).get(uid)
                    people[uid] = Participant(
                        uniqueid=uid,
                        channel=str(entry.get("Channel", "")),
                        caller_id_num=str(entry.get("CallerIDNum", "")),
                        caller_id_name=str(entry.get("CallerIDName", "")),
                        joined_at=old.joined_at if old else now - (answered or 0.0),
                        muted=_yes(entry.get("Muted", "no")),
                        admin=_yes(entry.get("Admin", "no")),
                    )
                fresh[room] = people
            old_rooms = self._rooms
            self._rooms = fresh
            for msg in self._replay:  # events that arrived while we were listing
                room = room_of(str(msg.get("Conference", "")))
                assert room is not None
                event = str(msg.get("Event", ""))
                if event == "ConfbridgeJoin":
                    self._apply_join(room, msg)
                elif event == "ConfbridgeLeave":
                    self._rooms.get(room, {}).pop(str(msg.get("Uniqueid", "")), None)
                elif event == "ConfbridgeEnd":
                    self._rooms.pop(room, None)
        finally:
            self._reconciling = False
            self._replay = []
        self.online = True
        self._emit(PbxStatus(online=True))
        for room in set(old_rooms) | set(self._rooms):
            if old_rooms.get(room, {}) != self._rooms.get(room, {}):
                self._publish(room, None)
        log.info("tracker reconciled: %s", self.counts() or "no active rooms")

    async def _went_down(self) -> None:
        self.online = False
        self._emit(PbxStatus(online=False))

    # -- publishing -----------------------------------------------------------------------

    def _publish(self, room: int, msg: Message | None) -> None:
        snap = RoomSnapshot(room, self.participants(room), _event_time(msg) if msg else None)
        self._emit(snap)

    def _emit(self, update: Update) -> None:
        for listener in list(self._listeners):
            self._background.spawn(listener(update))


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _event_time(msg: Message | None) -> float | None:
    """Asterisk's own event time (manager.conf ``timestampevents = yes``)."""
    if msg is None:
        return None
    return _float(msg.get("Timestamp"))
