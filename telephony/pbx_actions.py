"""What an admin can do to a live room: list, kick, mute, lock."""

from __future__ import annotations

from bot.models import Room
from telephony.ami import AmiClient
from telephony.errors import ParticipantNotFound, PbxActionFailed
from telephony.naming import bridge_name
from telephony.tracker import Participant, ParticipantTracker


class PbxActions:
    def __init__(self, ami: AmiClient, tracker: ParticipantTracker) -> None:
        self._ami = ami
        self._tracker = tracker

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

    async def kick(self, room: Room, who: str) -> Participant:
        person = self._find(room, who)
        await self._ami.action(
            {
                "Action": "ConfbridgeKick",
                "Conference": bridge_name(room.id),
                "Channel": person.channel,
            }
        )
        return person

    async def kick_all(self, room: Room) -> int:
        count = self._tracker.count(room.id)
        if count:
            await self._ami.action(
                {"Action": "ConfbridgeKick", "Conference": bridge_name(room.id), "Channel": "all"}
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
        return person

    async def lock(self, room: Room, locked: bool = True) -> None:
        if not self._tracker.count(room.id):
            raise PbxActionFailed(f'Room "{room.name}" has nobody in it; there is nothing to lock.')
        await self._ami.action(
            {
                "Action": "ConfbridgeLock" if locked else "ConfbridgeUnlock",
                "Conference": bridge_name(room.id),
            }
        )
