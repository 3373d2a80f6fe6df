"""The records the tracker publishes: a caller in a call, a room's call state, and the
updates listeners receive (``telephony.tracker`` keeps them current from AMI events)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Participant:
    uniqueid: str
    channel: str
    caller_id_num: str
    caller_id_name: str
    joined_at: float  # epoch seconds
    muted: bool = False
    admin: bool = False  # ConfBridge's admin flag: joined with the moderator PIN
    talking: bool = False  # ConfbridgeTalking on, until off or until they leave

    @property
    def moderator(self) -> bool:
        return self.admin

    @property
    def caller(self) -> str:
        name = self.caller_id_name if self.caller_id_name not in ("", "<unknown>") else ""
        num = self.caller_id_num if self.caller_id_num not in ("", "<unknown>") else ""
        if name and num and name != num:
            return f"{name} <{num}>"
        return name or num or "unknown caller"


@dataclass(frozen=True, slots=True)
class RoomState:
    """A live room's call state (both False when nobody is in it)."""

    locked: bool = False
    recording: bool = False


@dataclass(frozen=True, slots=True)
class RoomSnapshot:
    """A room's participants and state after a change."""

    room_id: int
    participants: tuple[Participant, ...]
    event_time: float | None = None  # Asterisk's timestamp of the event behind this change
    locked: bool = False
    recording: bool = False

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
class RecordingStopped:
    """A room's recording ended (stopped, or the call ended while recording): ``path`` is
    the file Asterisk wrote, complete once its WAV header's sizes agree with its length."""

    room_id: int
    path: str


@dataclass(frozen=True, slots=True)
class PbxStatus:
    online: bool


Update = RoomSnapshot | CallRefused | RecordingStopped | PbxStatus
Listener = Callable[[Update], Awaitable[None]]
