"""What an admin can do to a live room: list, kick, mute (one, or all but the moderators),
lock, record (``bot.call_control``'s ``CallControl`` over AMI). Each returns once Asterisk
confirmed it: the action's Success, and the tracker seeing its event (the caller's
ConfbridgeMute/Unmute or Leave, the room's ConfbridgeRecord/StopRecord) or, for a lock,
which has no event, Asterisk listing the room so (ConfbridgeListRooms).

Recording: the file goes to ``recordings_dir`` (0700; Asterisk runs with umask 077, so the
file is 0600), the room's AstDB mark ``conference/live/<ROOM>/recording`` tells callers who
join later, and an announcer (``Local/recording-on@conference-announce``, the dialplan's
``[conference-announce]``) joins the room to tell everyone at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import stat
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from bot.models import Room
from telephony.ami import AmiClient
from telephony.errors import ParticipantNotFound, PbxActionFailed
from telephony.naming import (
    RECORDING_FILE_KEY,
    RECORDING_KEY,
    bridge_name,
    live_family,
)
from telephony.tracker import Participant, ParticipantTracker, RoomState

log = logging.getLogger(__name__)

CONFIRM_WITHIN = 3.0  # seconds for the event that shows an action took effect
# The announcer: a Local channel whose ;2 half plays the prompt (the dialplan's
# [conference-announce], extensions recording-on / recording-off) and hangs up, while its ;1
# half is put in the room quietly, as an admin (so also into a full or locked room).
ANNOUNCE_CONTEXT = "conference-announce"
ANNOUNCER_PROFILE = "conference-announcer"
BRIDGE_PROFILE = "conference-bridge"
# MixMonitor takes the file as part of a comma-separated argument: nothing but these.
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9/._-]+$")


class PbxActions:
    def __init__(
        self,
        ami: AmiClient,
        tracker: ParticipantTracker,
        *,
        confirm_within: float = CONFIRM_WITHIN,
        recordings_dir: Path | None = None,
    ) -> None:
        self._ami = ami
        self._tracker = tracker
        self._confirm_within = confirm_within
        self.recordings_dir = recordings_dir
        # One start or stop per room at a time: two at once would both see no recording,
        # and the second's failure would undo the first's AstDB mark and file.
        self._recording_locks: dict[int, asyncio.Lock] = {}

    @property
    def online(self) -> bool:
        return self._ami.connected

    def participants(self, room: Room) -> tuple[Participant, ...]:
        return self._tracker.participants(room.id)

    def room_state(self, room: Room) -> RoomState:
        return self._tracker.room_state(room.id)

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
        # No event says so (Asterisk 22): Asterisk's listing confirms it.
        await self._tracker.refresh_room_states()
        if self._tracker.room_state(room.id).locked is not locked:
            raise PbxActionFailed(
                f"The PBX accepted the request to {'lock' if locked else 'unlock'} "
                f'"{room.name}" but does not list it so; check the room.'
            )

    async def mute_others(self, room: Room) -> int:
        """Mute everyone but the moderators; how many were muted (those unmuted before),
        once each of them is seen muted (or gone)."""
        targets = [p.uniqueid for p in self._tracker.participants(room.id)
                   if not p.moderator and not p.muted]  # fmt: skip
        if not targets:
            return 0
        # "participants": every caller who is not a ConfBridge admin, in one action, so
        # nobody joining meanwhile is missed half-way.
        await self._ami.action(
            {"Action": "ConfbridgeMute", "Conference": bridge_name(room.id),
             "Channel": "participants"}
        )  # fmt: skip

        def done() -> bool:
            now = {p.uniqueid: p for p in self._tracker.participants(room.id)}
            return all(uid not in now or now[uid].muted for uid in targets)

        await self._confirmed(done, f'mute everyone but the moderators in "{room.name}"')
        return len(targets)

    async def record(self, room: Room, start: bool, path: str | None = None) -> str:
        """Start (to ``path``, default a new file in the recordings dir) or stop recording
        the room's call; returns the file, once Asterisk confirmed it."""
        lock = self._recording_locks.setdefault(room.id, asyncio.Lock())
        async with lock:
            if start:
                return await self._start_recording(room, path)
            return await self._stop_recording(room)

    async def _start_recording(self, room: Room, path: str | None) -> str:
        if self._tracker.room_state(room.id).recording:
            raise PbxActionFailed(f'The call in "{room.name}" is already being recorded.')
        target = Path(path) if path is not None else self._new_file(room)
        if not _SAFE_PATH.match(str(target)):
            raise PbxActionFailed(
                f"Cannot record to {target}: the path must be absolute and use only letters, "
                "digits, '/', '.', '_' and '-' (PBX_RUN_DIR)."
            )
        private_dir(target.parent)
        family = live_family(room.id)
        # The mark first: a caller joining from now on hears that the call is recorded.
        await self._ami.action({"Action": "DBPut", "Family": family,
                                "Key": RECORDING_FILE_KEY, "Val": str(target)})  # fmt: skip
        await self._ami.action({"Action": "DBPut", "Family": family,
                                "Key": RECORDING_KEY, "Val": "1"})  # fmt: skip
        self._tracker.expect_recording(room.id, str(target))
        try:
            await self._ami.action(
                {"Action": "ConfbridgeStartRecord", "Conference": bridge_name(room.id),
                 "RecordFile": str(target)}
            )  # fmt: skip
        except BaseException:
            if not self._tracker.room_state(room.id).recording:  # never undo a running one's
                with suppress(Exception):
                    await self._ami.action({"Action": "DBDelTree", "Family": family})
            raise
        await self._confirmed(
            lambda: self._tracker.room_state(room.id).recording, f'record "{room.name}"'
        )
        await self._announce(room, "recording-on")
        return str(target)

    async def _stop_recording(self, room: Room) -> str:
        if not self._tracker.room_state(room.id).recording:
            raise PbxActionFailed(f'The call in "{room.name}" is not being recorded.')
        path = self._tracker.recording_file(room.id) or ""
        await self._ami.action(
            {"Action": "ConfbridgeStopRecord", "Conference": bridge_name(room.id)}
        )
        await self._confirmed(
            lambda: not self._tracker.room_state(room.id).recording,
            f'stop recording "{room.name}"',
        )
        with suppress(PbxActionFailed):  # the tracker may have cleared it already
            await self._ami.action({"Action": "DBDelTree", "Family": live_family(room.id)})
        await self._announce(room, "recording-off")
        return path

    def _new_file(self, room: Room) -> Path:
        if self.recordings_dir is None:
            raise PbxActionFailed("Recording is not set up here (no recordings directory).")
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        return self.recordings_dir / f"room-{room.id}-{stamp}-{secrets.token_hex(3)}.wav"

    async def _announce(self, room: Room, what: str) -> None:
        """Tell everyone in the room (the announcer joins, plays, leaves). Asterisk runs it
        on its own (Async): the action's answer is that it was accepted."""
        try:
            await self._ami.action(
                {
                    "Action": "Originate",
                    "Channel": f"Local/{what}@{ANNOUNCE_CONTEXT}",
                    "Application": "ConfBridge",
                    "Data": f"{bridge_name(room.id)},{BRIDGE_PROFILE},{ANNOUNCER_PROFILE}",
                    "CallerID": f'"Conference" <{what}>',
                    "Variable": f"lang={room.language}",  # the prompt in the room's language
                    "Async": "true",
                }
            )
        except PbxActionFailed as exc:
            log.warning('room %s: could not announce "%s": %s', room.id, what, exc)


def private_dir(path: Path) -> None:
    """``path`` as a directory of mode 0700 (created if missing, owned like its parent: the
    run user's spool when the bot is root). Never through a link: its parent may belong to
    the user Asterisk runs as."""
    try:
        os.mkdir(path, 0o700)
        created = True
    except FileExistsError:
        created = False
    except OSError as exc:
        raise PbxActionFailed(f"Cannot create the recordings directory {path}: "
                              f"{exc.strerror}.") from None  # fmt: skip
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        raise PbxActionFailed(f"The recordings directory {path} is not a directory: "
                              f"{exc.strerror}; remove it.") from None  # fmt: skip
    try:
        st = os.fstat(fd)
        if created and os.geteuid() == 0:
            parent = os.stat(path.parent)
            os.fchown(fd, parent.st_uid, parent.st_gid)
        if stat.S_IMODE(st.st_mode) != 0o700:
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
