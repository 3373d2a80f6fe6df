"""Actions on a room's live call: mute, unmute, mute all but the moderators, kick, lock,
unlock, record, end. Each is for the
room's managers only (refusals audited), refused with a reason when the PBX is down, the
room empty or the caller not in it, and audited once the PBX confirmed it.

The calls themselves are run by a ``bot.call_control.CallControl`` the front end passes in
(the CLI's connection of the moment, Slack's long-lived one): the core knows no AMI.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot import errors
from bot.call_control import CallControl, Caller
from bot.models import Recording, Role, Room
from bot.service.access import AccessMixin
from bot.service.recordings import RecordingsMixin


def _listed(person: Caller) -> str:
    return f"{person.caller} ({person.channel})"


def match_caller(room: Room, people: Sequence[Caller], who: str) -> Caller:
    """The one caller ``who`` names: a channel or unique id, else a caller ID number or the
    caller as shown; ``AmbiguousCaller`` listing the matches when several do."""
    key = who.strip()
    exact = [p for p in people if key in (p.channel, p.uniqueid)]
    if exact:
        return exact[0]
    found = [p for p in people if key and key in (p.caller_id_num, p.caller)]
    if len(found) == 1:
        return found[0]
    if found:
        listed = "; ".join(_listed(p) for p in found)
        raise errors.AmbiguousCaller(
            f'"{who}" matches {len(found)} callers in room "{room.name}": {listed}. '
            "Give the channel of the one you mean.",
            field="caller",
        )
    listed = "; ".join(_listed(p) for p in people)
    raise errors.ParticipantNotFound(
        f'Nobody matching "{who}" is in room "{room.name}" right now. In the call: {listed}.',
        field="caller",
    )


class CallsMixin(RecordingsMixin, AccessMixin):
    """Mute, kick, lock, record and end a room's live call, through a ``CallControl``."""

    async def _live_room(
        self, ref: str | int, calls: CallControl | None, actor: str, role: Role, what: str
    ) -> tuple[Room, Sequence[Caller]]:
        """The room (if ``actor`` may manage it) and who is in its call; refused when the
        PBX is down or nobody is in it."""
        async with self.repo.read() as repo:
            found = await self._find(repo, ref)
        room = await self.require_manager(found.id, actor, role, what)
        if calls is None or not calls.online:
            raise errors.PbxUnavailable(
                f'The phone system (PBX) is not running, so nobody is in a call in room "'
                f'{room.name}". Start it first (CLI: conference-bot pbx start).'
            )
        people = calls.participants(room)
        if not people:
            raise errors.NobodyInCall(f'Nobody is in room "{room.name}" right now.')
        return room, people

    async def mute_caller(
        self, ref: str | int, who: str, *, muted: bool = True, calls: CallControl | None,
        actor: str, role: Role = Role.ADMIN,
    ) -> Caller:  # fmt: skip
        """Mute (``muted=False``: unmute) one caller of the room's call, named as
        ``match_caller`` reads it; returns them once the PBX confirmed it."""
        verb = "mute" if muted else "unmute"
        room, people = await self._live_room(ref, calls, actor, role, f"{verb} callers")
        assert calls is not None
        person = match_caller(room, people, who)
        done = await calls.mute(room, person.channel, muted)
        summary = f'{verb.capitalize()}d {_listed(person)} in room "{room.name}"'
        await self.record(actor, f"call.{verb}", room.name, summary)
        return done

    async def kick_caller(
        self, ref: str | int, who: str, *, calls: CallControl | None, actor: str,
        role: Role = Role.ADMIN,
    ) -> Caller:  # fmt: skip
        """Hang up on one caller of the room's call; returns them once they left."""
        room, people = await self._live_room(ref, calls, actor, role, "remove callers")
        assert calls is not None
        person = match_caller(room, people, who)
        await calls.kick(room, person.channel)
        await self.record(actor, "call.kick", room.name,
                          f'Removed {_listed(person)} from room "{room.name}"')  # fmt: skip
        return person

    async def lock_call(
        self, ref: str | int, *, locked: bool = True, calls: CallControl | None, actor: str,
        role: Role = Role.ADMIN,
    ) -> Room:  # fmt: skip
        """Lock (``locked=False``: unlock) the room's call: a locked call turns the next
        caller away. The lock ends with the call."""
        verb = "lock" if locked else "unlock"
        room, _ = await self._live_room(ref, calls, actor, role, f"{verb} calls")
        assert calls is not None
        await calls.lock(room, locked)
        await self.record(actor, f"call.{verb}", room.name,
                          f'{verb.capitalize()}ed the call in room "{room.name}"')  # fmt: skip
        return room

    async def end_call(
        self, ref: str | int, *, calls: CallControl | None, actor: str, role: Role = Role.ADMIN
    ) -> int:
        """Hang up on everyone in the room's call; how many, once they all left."""
        room, _ = await self._live_room(ref, calls, actor, role, "end calls")
        assert calls is not None
        count = await calls.kick_all(room)
        await self.record(actor, "call.end", room.name,
                          f'Ended the call in room "{room.name}" ({count} removed)')  # fmt: skip
        return count

    async def mute_others(
        self, ref: str | int, *, calls: CallControl | None, actor: str, role: Role = Role.ADMIN
    ) -> int:
        """Mute everyone in the room's call but the moderators; how many were muted (those
        not muted already), once the PBX confirmed it."""
        room, _ = await self._live_room(ref, calls, actor, role, "mute callers")
        assert calls is not None
        count = await calls.mute_others(room)
        await self.record(actor, "call.mute_others", room.name,
                          f'Muted everyone but the moderators in room "{room.name}" '
                          f"({count} muted)")  # fmt: skip
        return count

    async def record_call(
        self, ref: str | int, start: bool, *, calls: CallControl | None, actor: str,
        role: Role = Role.ADMIN,
    ) -> Recording | None:  # fmt: skip
        """Start (``start=False``: stop) recording the room's call. Everyone in it hears so
        (and callers joining later, while it lasts); the file is uploaded once it stops.
        Returns the recording's row, once the PBX confirmed it (None: the PBX stopped a
        recording to a file the bot never knew of)."""
        verb = "start recording" if start else "stop recording"
        room, _ = await self._live_room(ref, calls, actor, role, f"{verb} calls")
        assert calls is not None
        recording = calls.room_state(room).recording
        if start and recording:
            raise errors.AlreadyRecording(
                f'The call in room "{room.name}" is already being recorded.'
            )
        if not start and not recording:
            raise errors.NotRecording(f'The call in room "{room.name}" is not being recorded.')
        path = await calls.record(room, start)
        if start:
            row = await self.recording_started(room, path, actor)
            if not calls.room_state(room).recording:  # ended already (everyone left)
                row = await self.recording_stopped(path, None) or row
            await self.record(actor, "call.record_start", room.name,
                              f'Started recording the call in room "{room.name}"')  # fmt: skip
            return row
        stopped = await self.recording_stopped(path, actor) if path else None
        await self.record(actor, "call.record_stop", room.name,
                          f'Stopped recording the call in room "{room.name}"')  # fmt: skip
        return stopped
