"""What the service needs of whatever runs the calls, to act on a live one: who is in a room,
mute (one, or all but the moderators), kick, lock, record. ``telephony.pbx_actions.PbxActions``
is one (over AMI); the entry points hand it to the service, which imports nothing of
``telephony``.

Every action returns only once the PBX confirmed it (the action's answer, and for a mute or a
kick the caller's new state seen in its events), so a front end never reports as done what
Asterisk has not done.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.models import Room


class Caller(Protocol):
    """One person in a call (``telephony.tracker.Participant``)."""

    @property
    def uniqueid(self) -> str: ...

    @property
    def channel(self) -> str: ...

    @property
    def caller_id_num(self) -> str: ...

    @property
    def caller(self) -> str:
        """Name and number for people to read."""
        ...

    @property
    def joined_at(self) -> float: ...

    @property
    def muted(self) -> bool: ...

    @property
    def talking(self) -> bool:
        """Talking now (ConfBridge's talk detection)."""
        ...

    @property
    def moderator(self) -> bool:
        """Joined with the moderator PIN: never muted by ``mute_others``."""
        ...


class CallState(Protocol):
    """A live room's state (``telephony.tracker.RoomState``)."""

    @property
    def locked(self) -> bool: ...

    @property
    def recording(self) -> bool: ...


class CallControl(Protocol):
    """Actions on a room's live call; the PBX's failures are domain errors."""

    @property
    def online(self) -> bool: ...

    def participants(self, room: Room) -> Sequence[Caller]:
        """Who is in the room's call now, oldest first."""
        ...

    def room_state(self, room: Room) -> CallState:
        """Whether the room's call is locked and whether it is being recorded."""
        ...

    async def mute(self, room: Room, who: str, muted: bool = True) -> Caller:
        """Mute (or unmute) the caller on channel ``who``, once confirmed."""
        ...

    async def kick(self, room: Room, who: str) -> Caller:
        """Hang up on the caller on channel ``who``; returns once they left."""
        ...

    async def kick_all(self, room: Room) -> int:
        """Hang up on everyone; returns how many, once the room is empty."""
        ...

    async def lock(self, room: Room, locked: bool = True) -> None:
        """Lock (or unlock) the room: a locked one turns the next caller away."""
        ...

    async def mute_others(self, room: Room) -> int:
        """Mute everyone but the moderators; how many were muted, once confirmed."""
        ...

    async def record(self, room: Room, start: bool, path: str | None = None) -> str:
        """Start (to ``path``, default a new file of the PBX's) or stop recording the room's
        call, telling everyone in it; returns the file, once confirmed."""
        ...
