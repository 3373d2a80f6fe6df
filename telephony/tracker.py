"""Who is in which room, from ConfBridge events, reconciled on every (re)connect.

Per caller: muted, talking (ConfbridgeTalking; cleared on leave, since Asterisk sends no final
"off" for a caller who hangs up mid-word) and the moderator mark (ConfBridge's admin flag).
Per room: locked (ConfbridgeListRooms: Asterisk 22 sends no event for a lock, so it is
read on connect, after each lock, and every ``LOCK_POLL`` seconds while a call is up) and
recording
(ConfbridgeRecord/StopRecord events). A
recording that ends, by StopRecord or with the conference, is published as
``RecordingStopped`` with its file, and its AstDB mark (``conference/live/<ROOM>``, which
makes joining callers hear "this call is recorded") is cleared.

Local channels (``Local/...``: the announcer the bot puts in a room to tell everyone that
recording started) and ConfBridge's own recorder are never participants and never counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from panoramisk.message import Message

from telephony.ami import AmiClient, AmiState
from telephony.background import Background
from telephony.call_state import (
    CallRefused,
    Listener,
    Participant,
    PbxStatus,
    RecordingStopped,
    RoomSnapshot,
    RoomState,
    Update,
)
from telephony.errors import PbxActionFailed, PbxUnavailable
from telephony.naming import (
    LIVE_FAMILY,
    RECORDING_FILE_KEY,
    RECORDING_KEY,
    bridge_name,
    live_family,
    room_of,
)

log = logging.getLogger(__name__)

__all__ = ["CallRefused", "Listener", "Participant", "ParticipantTracker", "PbxStatus",
           "RecordingStopped", "RoomSnapshot", "RoomState", "Update"]  # fmt: skip


def _yes(value: Any) -> bool:
    """An AMI flag ("Yes", "true", "1")."""
    return str(value).strip().lower() in {"yes", "true", "1"}


class ParticipantTracker:
    """Live participants keyed by channel Uniqueid, published to listeners on every change."""

    def __init__(self) -> None:
        self._rooms: dict[int, dict[str, Participant]] = {}
        self._states: dict[int, RoomState] = {}
        # The file each room is being recorded to (told by whoever starts it, or read back
        # from AstDB on reconcile): ConfbridgeRecord does not name it.
        self._record_files: dict[int, str] = {}
        self._listeners: list[Listener] = []
        self._reconciling = False
        self._replay: list[Message] = []
        self._background = Background(log, "tracker listener failed")
        self.online = False
        self._ami: AmiClient | None = None
        self._polling = False

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
        ami.register_event("ConfbridgeTalking", self._on_talking)
        ami.register_event("ConfbridgeRecord", self._on_record)
        ami.register_event("ConfbridgeStopRecord", self._on_stop_record)
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

    def room_state(self, room_id: int) -> RoomState:
        return self._states.get(room_id, RoomState())

    def recording_file(self, room_id: int) -> str | None:
        """The file the room's call is being recorded to, if it is and the file is known."""
        return self._record_files.get(room_id) if self.room_state(room_id).recording else None

    def snapshot(self, room_id: int) -> RoomSnapshot:
        state = self.room_state(room_id)
        return RoomSnapshot(room_id, self.participants(room_id), None, state.locked,
                            state.recording)  # fmt: skip

    def expect_recording(self, room_id: int, path: str) -> None:
        """The file the next recording of ``room_id`` goes to (``PbxActions.record``)."""
        self._record_files[room_id] = path

    # -- events ---------------------------------------------------------------------------

    def _room_event(self, msg: Message) -> int | None:
        room = room_of(str(msg.get("Conference", "")))
        if room is not None and self._reconciling:
            self._replay.append(msg)
        return room

    def _on_join(self, msg: Message) -> None:
        room = self._room_event(msg)
        if room is None or not _is_caller(str(msg.get("Channel", ""))):
            return
        self._apply_join(room, msg)
        self._publish(room, msg)

    def _apply_join(self, room: int, msg: Message) -> None:
        if not _is_caller(str(msg.get("Channel", ""))):
            return
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
        if self._rooms.get(room, {}).pop(str(msg.get("Uniqueid", "")), None) is not None:
            self._publish(room, msg)

    def _on_start(self, msg: Message) -> None:
        room = self._room_event(msg)
        if room is not None:
            self._rooms.setdefault(room, {})

    def _on_end(self, msg: Message) -> None:
        room = self._room_event(msg)
        if room is None:
            return
        state = self._states.pop(room, RoomState())
        if state.recording:
            self._recording_ended(room)
        if self._rooms.pop(room, None) or state != RoomState():
            self._publish(room, msg)

    def _set_person(self, msg: Message, change: Callable[[Participant], Participant]) -> None:
        room = self._room_event(msg)
        if room is None:
            return
        people = self._rooms.get(room, {})
        uid = str(msg.get("Uniqueid", ""))
        if uid in people:
            before = people[uid]
            people[uid] = change(before)
            if people[uid] != before:
                self._publish(room, msg)

    def _on_mute(self, msg: Message) -> None:
        self._set_person(msg, lambda p: replace(p, muted=True))

    def _on_unmute(self, msg: Message) -> None:
        self._set_person(msg, lambda p: replace(p, muted=False))

    def _on_talking(self, msg: Message) -> None:
        talking = str(msg.get("TalkingStatus", "")).lower() == "on"
        self._set_person(msg, lambda p: replace(p, talking=talking))

    def _set_state(self, msg: Message, change: Callable[[RoomState], RoomState]) -> None:
        room = self._room_event(msg)
        if room is None:
            return
        before = self._states.get(room, RoomState())
        after = change(before)
        if after == before:
            return
        self._states[room] = after
        if before.recording and not after.recording:
            self._recording_ended(room)
        self._publish(room, msg)

    # Asterisk 22 sends no lock event (``refresh_room_states`` reads the locks); these take
    # a lock change as a message shaped like the other room events, for feeds and fakes.
    def _on_lock(self, msg: Message) -> None:
        self._set_state(msg, lambda s: replace(s, locked=True))

    def _on_unlock(self, msg: Message) -> None:
        self._set_state(msg, lambda s: replace(s, locked=False))

    def _on_record(self, msg: Message) -> None:
        self._set_state(msg, lambda s: replace(s, recording=True))
        room = room_of(str(msg.get("Conference", "")))
        if room is not None and room not in self._record_files:
            # Started by another process (a CLI command): the file is in AstDB.
            self._background.spawn(self._learn_file(room))

    async def _learn_file(self, room: int) -> None:
        path = await self._stored_file(room)
        if path and self.room_state(room).recording:
            self._record_files.setdefault(room, path)

    async def _stored_file(self, room: int) -> str | None:
        """The file AstDB says the room is recorded to (``conference/live/<ROOM>/file``)."""
        if self._ami is None:
            return None
        try:
            answer = await self._ami.list_action(
                {"Action": "DBGet", "Family": live_family(room), "Key": RECORDING_FILE_KEY}
            )
        except (PbxActionFailed, PbxUnavailable):
            return None
        for message in answer:
            if str(message.get("Event", "")) == "DBGetResponse":
                return str(message.get("Val", "") or "") or None
        return None

    def _on_stop_record(self, msg: Message) -> None:
        self._set_state(msg, lambda s: replace(s, recording=False))

    def _recording_ended(self, room: int) -> None:
        """Tell listeners of the file, and clear the room's AstDB mark so callers joining
        later are not told the call is recorded."""
        path = self._record_files.pop(room, None)
        if path is not None:
            self._emit(RecordingStopped(room, path))
        self._background.spawn(self._after_recording(room, find_file=path is None))

    async def _after_recording(self, room: int, *, find_file: bool) -> None:
        """The file of a recording another process started, from AstDB; then the mark
        cleared (unless a new recording began meanwhile)."""
        if self._ami is None:
            return
        if find_file:
            path = await self._stored_file(room)
            if path:
                self._emit(RecordingStopped(room, path))
            else:  # told already, or a recording the bot did not start
                log.info("room %s stopped recording", room)
        if self.room_state(room).recording:
            return
        try:
            await self._ami.action({"Action": "DBDelTree", "Family": live_family(room)})
        except PbxActionFailed:
            pass  # nothing to delete: whoever stopped it cleared it already
        except PbxUnavailable:
            log.warning("room %s: recording mark not cleared (PBX unreachable); it is at "
                        "the next connect", room)  # fmt: skip

    def _on_user_event(self, msg: Message) -> None:
        if str(msg.get("UserEvent", "")) == LOCK_TOGGLED:
            self._background.spawn(self.refresh_room_states())
            return
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
            states: dict[int, RoomState] = {}
            marks = await self._recording_marks(ami)
            for conf in await ami.list_action({"Action": "ConfbridgeListRooms"}):
                room = room_of(str(conf.get("Conference", "")))
                if room is None:
                    continue
                states[room] = RoomState(
                    locked=_yes(conf.get("Locked", "no")), recording=room in marks
                )
                people: dict[str, Participant] = {}
                listing = await ami.list_action(
                    {"Action": "ConfbridgeList", "Conference": bridge_name(room)}
                )
                now = time.time()
                for entry in listing:
                    if not _is_caller(str(entry.get("Channel", ""))):
                        continue
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
                        talking=old.talking if old else False,
                    )
                fresh[room] = people
            old_rooms, old_states = self._rooms, self._states
            self._rooms, self._states = fresh, states
            for room, path in marks.items():
                if path:
                    self._record_files.setdefault(room, path)
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
                    self._states.pop(room, None)
                elif event in _STATE_EVENTS:
                    before = self._states.get(room, RoomState())
                    self._states[room] = _STATE_EVENTS[event](before)
        finally:
            self._reconciling = False
            self._replay = []
        self.online = True
        self._emit(PbxStatus(online=True))
        if not self._polling:
            self._polling = True
            self._background.spawn(self._poll_locks(ami))
        # A recording that ended while the bot was away (the call ended, or a StopRecord
        # the bot did not see): its file is done.
        for room in set(old_states) | set(marks):
            was = old_states.get(room, RoomState()).recording or room in marks
            if was and not self.room_state(room).recording:
                self._recording_ended(room)
        for room in set(old_rooms) | set(self._rooms) | set(old_states) | set(self._states):
            changed = old_states.get(room, RoomState()) != self.room_state(room)
            if changed or old_rooms.get(room, {}) != self._rooms.get(room, {}):
                self._publish(room, None)
        log.info("tracker reconciled: %s", self.counts() or "no active rooms")

    async def refresh_room_states(self) -> None:
        """Whether each room is locked, as ConfbridgeListRooms says: Asterisk 22 sends no
        event when a room is locked or unlocked (by AMI or by a moderator's keypad), so
        whoever locks asks for this, as does a ``ConferenceLockToggled`` UserEvent."""
        ami = self._ami
        if ami is None:
            return
        for conf in await ami.list_action({"Action": "ConfbridgeListRooms"}):
            room = room_of(str(conf.get("Conference", "")))
            if room is None:
                continue
            before = self._states.get(room, RoomState())
            locked = _yes(conf.get("Locked", "no"))
            if before.locked != locked:
                self._states[room] = replace(before, locked=locked)
                self._publish(room, None)

    async def _poll_locks(self, ami: AmiClient) -> None:
        """While a call is up, read the rooms' locks every ``LOCK_POLL`` seconds: a lock
        made by another process (a CLI command) or a moderator's keypad has no event.
        Ends when the AMI client is closed."""
        try:
            while ami.state is not AmiState.DISCONNECTED:
                await asyncio.sleep(LOCK_POLL)
                if self.online and any(self._rooms.values()):
                    try:
                        await self.refresh_room_states()
                    except (PbxActionFailed, PbxUnavailable):
                        pass  # down: reconcile reads them again on reconnect
        finally:
            self._polling = False

    async def _recording_marks(self, ami: AmiClient) -> dict[int, str]:
        """Rooms AstDB marks as recorded (``conference/live/<ROOM>/recording``), with the
        file each is recorded to ("" if unknown)."""
        try:
            entries = await ami.list_action({"Action": "DBGetTree", "Family": LIVE_FAMILY})
        except PbxActionFailed:
            return {}
        flags: dict[int, bool] = {}
        files: dict[int, str] = {}
        for entry in entries:
            parts = str(entry.get("Key", "")).strip("/").split("/")
            if len(parts) != 4 or not parts[2].isdigit():
                continue
            room, key, value = int(parts[2]), parts[3], str(entry.get("Val", ""))
            if key == RECORDING_KEY:
                flags[room] = value == "1"
            elif key == RECORDING_FILE_KEY:
                files[room] = value
        return {room: files.get(room, "") for room, on in flags.items() if on}

    async def _went_down(self) -> None:
        self.online = False
        self._emit(PbxStatus(online=False))

    # -- publishing -----------------------------------------------------------------------

    def _publish(self, room: int, msg: Message | None) -> None:
        state = self.room_state(room)
        snap = RoomSnapshot(room, self.participants(room), _event_time(msg) if msg else None,
                            state.locked, state.recording)  # fmt: skip
        self._emit(snap)

    def _emit(self, update: Update) -> None:
        for listener in list(self._listeners):
            self._background.spawn(listener(update))


LOCK_POLL = 2.0  # seconds between reads of the rooms' locks while a call is up

# A UserEvent the dialplan may send after a moderator's keypad locked or unlocked the room.
LOCK_TOGGLED = "ConferenceLockToggled"

# Room-state events replayed after a reconcile's listing, and what each changes.
_STATE_EVENTS: dict[str, Callable[[RoomState], RoomState]] = {
    "ConfbridgeRecord": lambda s: replace(s, recording=True),
    "ConfbridgeStopRecord": lambda s: replace(s, recording=False),
}


def _is_caller(channel: str) -> bool:
    """A person's channel: not the bot's announcer (``Local/``) nor ConfBridge's recorder."""
    return not channel.startswith(("Local/", "CBRec/", "CBAnn/"))


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
