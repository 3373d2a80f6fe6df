"""What an admin can do to a live room: list, kick, mute, lock (``bot.call_control``'s
``CallControl`` over AMI). Each returns once Asterisk confirmed it: the action's Success,
and for a mute or a kick the tracker seeing the caller's ConfbridgeMute/Unmute or Leave."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.models import Room
from telephony.ami import AmiClient
from telephony.errors import ParticipantNotFound, PbxActionFailed
from telephony.naming import bridge_name
from telephony.tracker import Participant, ParticipantTracker

CONFIRM_WITHIN = 3.0  # seconds for the event that shows an action took effect


class PbxActions:
    def __init__(
        self, ami: AmiClient, tracker: ParticipantTracker, *, confirm_within: float = CONFIRM_WITHIN
    ) -> None:
        self._ami = ami
        self._tracker = tracker
        self._confirm_within = confirm_within

    @property
    def online(self) -> bool:
        return self._ami.connected

    def participants(self, room: Room) -> tuple[Participant, ...]:
        return self._tracker.participants(room.id)

    def _find(self, room: Room, who: str) -> Participant:
        for person in self._tracker.participants(room.id):
            if who in (person.uniqueid, person.channel, person.caller_id_num):
                return person
        raise ParticipantNotFound(f'Nobody matching "{who}" is in room "{room.name}" right now.')

    def _present(self, room: Room, uniqueid: str) -> Participant | None:
        return next(
            (p for p in self._tracker.participants(room.id) if p.uniqueid == uniqueid), None
        )

    async def _confirmed(self, done: Callable[[], bool], what: str) -> None:
        """Wait for the tracker to show ``done``; Asterisk accepted the action already, so
        not seeing it in time is reported, never taken as done."""
        try:
            async with asyncio.timeout(self._confirm_within):
                while not done():  # noqa: ASYNC110 (the tracker has no per-change signal)
                    await asyncio.sleep(0.02)
        except TimeoutError:
            raise PbxActionFailed(
                f"The PBX accepted the request to {what} but did not confirm it within "
                f"{self._confirm_within:g} s; check the room's participants."
            ) from None

    async def kick(self, room: Room, who: str) -> Participant:
        person = self._find(room, who)
        await self._ami.action(
            {
                "Action": "ConfbridgeKick",
                "Conference": bridge_name(room.id),
                "Channel": person.channel,
            }
        )
        await self._confirmed(
            lambda: self._present(room, person.uniqueid) is None, f"remove {person.caller}"
        )
        return person

    async def kick_all(self, room: Room) -> int:
        count = self._tracker.count(room.id)
        if count:
            await self._ami.action(
                {"Action": "ConfbridgeKick", "Conference": bridge_name(room.id), "Channel": "all"}
            )
            await self._confirmed(
                lambda: self._tracker.count(room.id) == 0, f'end the call in "{room.name}"'
            )
        return count

    async def mute(self, room: Room, who: str, muted: bool = True) -> Participant:
        person = self._find(room, who)
        await self._ami.action(
            {
                "Action": "ConfbridgeMute" if muted else "ConfbridgeUnmute",
                "Conference": bridge_name(room.id),
                "Channel": person.channel,
            }
        )

        def done() -> bool:
            now = self._present(room, person.uniqueid)
            if now is None:  # left meanwhile: the mute did not happen
                raise ParticipantNotFound(f'{person.caller} left room "{room.name}" meanwhile.')
            return now.muted is muted

        await self._confirmed(done, f"{'mute' if muted else 'unmute'} {person.caller}")
        return self._present(room, person.uniqueid) or person

    async def lock(self, room: Room, locked: bool = True) -> None:
        if not self._tracker.count(room.id):
            raise PbxActionFailed(f'Room "{room.name}" has nobody in it; there is nothing to lock.')
        await self._ami.action(
            {
                "Action": "ConfbridgeLock" if locked else "ConfbridgeUnlock",
                "Conference": bridge_name(room.id),
            }
        )
