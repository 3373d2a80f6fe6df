"""Recordings reach Slack: once a call's recording stops, its file is uploaded to the channel
of the room's most recent dial-in card (else the admins' channel), then deleted from disk.

:class:`RecordingUploader` listens to the tracker for ``RecordingStopped``, has the service
mark the recording stopped, waits until Asterisk has finished the file (a WAV header's sizes
agree with the file's length), and uploads it with Slack's current flow
(``files_upload_v2``: ``files.getUploadURLExternal``, the bytes POSTed to the URL it gives,
``files.completeUploadExternal``; the old ``files.upload`` is retired). The message says
which room, when it started, how long it lasts and who started it.

Files are deleted once uploaded, unless ``CONFERENCE_RECORDINGS_KEEP_DAYS`` keeps them that
many days (a sweep every 10 minutes deletes them then). A failed upload keeps the file, is
marked failed and told to the admins. A deleted room's recordings are deleted with it: the
database forgets a recording's room when the room goes, so the uploader keeps each room's
recordings in mind (from the start, and as they stop); a room deleted by another process
(the CLI) is noticed by the sweep. On start, whatever stopped but was not uploaded (the bot
was down) is uploaded.

The uploader acts only on paths the service knows (recordings it started), never on a path
an event names, and opens files without following a final symbolic link: the recordings
folder is written by Asterisk's user, which must not get the bot to upload another file.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from bot.changes import RoomChange
from bot.models import Recording, RecordingStatus, Server
from bot.rules import OWNER_PREFIX
from commands.blocks.kit import esc
from commands.context import Deps
from commands.notify import post_to_admins, slack_error
from commands.recording_file import NotFinished, finished_file, remove
from commands.wav import WavInfo
from telephony.tracker import RecordingStopped, Update

log = logging.getLogger(__name__)

COMPLETE_TIMEOUT = 30.0  # seconds to wait for Asterisk to finish writing a file
POLL = 0.2  # seconds between two looks at a file being finished
SWEEP_EVERY = 600.0  # seconds between two sweeps (retention, rooms deleted elsewhere)

# Sharing in the card's channel failed for good: share in the admins' channel instead.
CHANNEL_GONE = frozenset({"not_in_channel", "channel_not_found", "is_archived"})


@dataclass(frozen=True, slots=True)
class _Stopped:
    path: str


@dataclass(frozen=True, slots=True)
class _Upload:
    recording: Recording


@dataclass(frozen=True, slots=True)
class _RoomDeleted:
    room_id: int


@dataclass(frozen=True, slots=True)
class _Sweep:
    pass


_Job = _Stopped | _Upload | _RoomDeleted | _Sweep


class RecordingUploader:
    """A tracker listener and service observer that uploads finished recordings, one at a
    time (``wait_idle`` returns once every job seen so far is done)."""

    def __init__(
        self,
        deps: Deps,
        client: AsyncWebClient,
        admin_channel: str | None,
        *,
        keep_days: int = 0,
        complete_timeout: float = COMPLETE_TIMEOUT,
        poll: float = POLL,
        sweep_every: float = SWEEP_EVERY,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._deps = deps
        self._client = client
        self._admin_channel = admin_channel
        self.keep_days = keep_days
        self.complete_timeout = complete_timeout
        self.poll = poll
        self.sweep_every = sweep_every
        self._now = now
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None
        self._running = False
        # Room id -> ids of its recordings with a file that may still be on disk: once the
        # room is deleted, the database no longer says which were its.
        self._by_room: dict[int, set[int]] = {}

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen, then upload what stopped while the bot was away and sweep old files."""
        if self._running:
            return
        self._running = True
        self._unsubscribe = self._deps.tracker.add_listener(self.on_update)
        service = self._deps.service
        service.add_observer(self)
        tracker = self._deps.tracker
        for room in await service.list_rooms():
            for recording in await service.recordings_of(room.id):
                self._remember(recording)
                # Ended while no uploader listened (the tracker told so at its first
                # connect, before Slack was up): the PBX no longer records that room.
                ended = tracker.online and not tracker.room_state(room.id).recording
                if recording.status is RecordingStatus.RECORDING and ended:
                    self._queue.put_nowait(_Stopped(recording.path))
        for recording in await service.recordings_to_upload():
            self._queue.put_nowait(_Upload(recording))
        self._tasks = [asyncio.create_task(self._work()), asyncio.create_task(self._sweeper())]

    async def stop(self) -> None:
        self._running = False  # the service has no remove_observer; we just go quiet
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def wait_idle(self) -> None:
        """Return once every job queued so far is done (tests use this)."""
        await asyncio.sleep(0)
        await self._queue.join()

    # -- what happens ---------------------------------------------------------------------

    async def on_update(self, update: Update) -> None:
        """Tracker listener: a recording ended (stopped, or its conference ended)."""
        if self._running and isinstance(update, RecordingStopped):
            self._queue.put_nowait(_Stopped(update.path))

    async def room_changed(self, change: RoomChange) -> None:
        """Service observer: a deleted room's recordings go with it."""
        if self._running and change.kind == "deleted":
            self._queue.put_nowait(_RoomDeleted(change.room.id))

    async def server_changed(self, server: Server | None) -> None:
        """Service observer: nothing to do."""

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                if isinstance(job, _Stopped):
                    await self._stopped(job.path)
                elif isinstance(job, _Upload):
                    await self.upload(job.recording)
                elif isinstance(job, _RoomDeleted):
                    await self._room_deleted(job.room_id)
                else:
                    await self.sweep()
            except Exception:
                log.exception("recording job %r failed", job)
            finally:
                self._queue.task_done()

    async def _stopped(self, path: str) -> None:
        service = self._deps.service
        recording = await service.recording_stopped(path, None)
        if recording is None:  # already marked stopped (record_call), or not ours at all
            known = [r for r in await service.recordings_to_upload() if r.path == path]
            recording = known[0] if known else None
        if recording is None:
            log.info("a recording stopped that is not waiting for upload; left alone")
            return
        await self.upload(recording)

    def _remember(self, recording: Recording) -> None:
        if recording.room_id is not None and recording.status is not RecordingStatus.DELETED:
            self._by_room.setdefault(recording.room_id, set()).add(recording.id)

    async def _room_deleted(self, room_id: int) -> None:
        """Delete the files of a deleted room's recordings. One still being written is
        deleted when it stops (``upload`` finds its room gone)."""
        service = self._deps.service
        for recording_id in sorted(self._by_room.pop(room_id, set())):
            recording = await service.recording(recording_id)
            if recording is not None and recording.status not in (
                RecordingStatus.RECORDING,
                RecordingStatus.DELETED,
            ):
                await self._delete(recording)

    async def _delete(self, recording: Recording) -> bool:
        """Delete the file and mark the recording deleted; True if the file was there."""
        was_there = remove(recording.path)
        await self._deps.service.recording_deleted(recording.id)
        if recording.room_id is not None:
            self._by_room.get(recording.room_id, set()).discard(recording.id)
        return was_there

    # -- uploading ------------------------------------------------------------------------

    async def upload(self, recording: Recording) -> bool:
        """Upload one stopped recording; True once it is on Slack."""
        if recording.status is not RecordingStatus.STOPPED:
            return False
        if recording.room_id is None:  # its room was deleted meanwhile: so is the file
            await self._delete(recording)
            return False
        self._remember(recording)
        try:
            info, data = await finished_file(Path(recording.path), self.complete_timeout, self.poll)
        except NotFinished as exc:
            await self._failed(recording, str(exc))
            return False
        channel = await self._channel_for(recording.room_id)
        if channel is None:
            await self._failed(
                recording,
                "there is no channel to upload it to: post the room's dial-in card in a "
                "channel (/conference info ROOM) or set SLACK_ADMIN_CHANNEL",
            )
            return False
        comment = initial_comment(recording, info)
        try:
            try:
                file_id = await self._send(recording, data, channel, comment)
            except SlackApiError as exc:
                admins = self._admin_channel
                if slack_error(exc) not in CHANNEL_GONE or not admins or channel == admins:
                    raise
                log.warning("cannot share a recording in %s (%s): sharing it in the admins' "
                            "channel", channel, slack_error(exc))  # fmt: skip
                comment += f"\n_(Could not share it in <#{channel}>: {slack_error(exc)}.)_"
                channel = admins
                file_id = await self._send(recording, data, channel, comment)
        except SlackApiError as exc:
            await self._failed(recording, f"Slack answered {slack_error(exc)}")
            return False
        except (SlackRequestError, ClientError, OSError, TimeoutError) as exc:
            await self._failed(recording, f"cannot reach Slack ({exc})")
            return False
        await self._deps.service.recording_uploaded(recording.id, channel, file_id)
        log.info("recording %s uploaded to %s as %s", recording.id, channel, file_id)
        if self.keep_days == 0:
            await self._delete(recording)
        return True

    async def _send(self, recording: Recording, data: bytes, channel: str, comment: str) -> str:
        response = await self._client.files_upload_v2(
            file=data,
            filename=file_name(recording),
            title=f"{recording.room_name}: recording of {_utc(recording.started_at)}",
            channel=channel,
            initial_comment=comment,
        )
        shared = response.get("file") or {}
        return str(shared.get("id") or "")

    async def _channel_for(self, room_id: int) -> str | None:
        """The channel of the room's most recent dial-in card, else the admins' channel."""
        cards = await self._deps.service.cards(room_id)  # oldest first
        return cards[-1].channel if cards else self._admin_channel

    async def _failed(self, recording: Recording, error: str) -> None:
        """Keep the file, mark the recording failed and tell the admins."""
        log.error("recording %s was not uploaded: %s", recording.id, error)
        await self._deps.service.recording_failed(recording.id, error)
        text = (
            f":warning: The recording of *{esc(recording.room_name)}* "
            f"(started {_when(recording.started_at)} by {who(recording.started_by)}) "
            f"could not be uploaded to Slack: {esc(error)}. The file is kept on the server "
            f"at `{esc(recording.path)}`. If Slack refused it, check that the app has the "
            "files:write scope (reinstall it from manifest.yaml) and that the bot is a "
            "member of the channel."
        )
        await post_to_admins(self._client, self._admin_channel, {"text": text},
                             "recording failure")  # fmt: skip

    # -- retention ------------------------------------------------------------------------

    async def _sweeper(self) -> None:
        """Queue a sweep now and then, so it never runs beside an upload."""
        while True:
            self._queue.put_nowait(_Sweep())
            await asyncio.sleep(self.sweep_every)

    async def sweep(self) -> int:
        """Delete uploaded recordings kept longer than ``keep_days``, and the recordings of
        rooms deleted by another process; how many files went."""
        cutoff = self._now() - timedelta(days=self.keep_days)
        service = self._deps.service
        rooms = {room.id for room in await service.list_rooms()}
        for gone in set(self._by_room) - rooms:
            await self._room_deleted(gone)
        deleted = 0
        # Rooms deleted while this process did not follow them (another process, or while
        # the bot was down): the database forgot which room, not that it is gone.
        for recording in await service.orphaned_recordings():
            if recording.status not in (RecordingStatus.RECORDING, RecordingStatus.DELETED):
                deleted += await self._delete(recording)
        for room_id in rooms:
            for recording in await service.recordings_of(room_id):
                uploaded = _parse(recording.uploaded_at)
                if (
                    recording.status is RecordingStatus.UPLOADED
                    and uploaded is not None
                    and uploaded <= cutoff
                ):
                    deleted += await self._delete(recording)
        return deleted


# -- what Slack shows -----------------------------------------------------------------------


def initial_comment(recording: Recording, info: WavInfo | None) -> str:
    """The message the file is shared with: room, start, duration, who started it."""
    length = duration_text(info.duration) if info is not None else "unknown"
    return (
        f":studio_microphone: Recording of *{esc(recording.room_name)}*\n"
        f"Started {_when(recording.started_at)} by {who(recording.started_by)}\n"
        f"Duration: {length}"
    )


def duration_text(seconds: float) -> str:
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def who(actor: str) -> str:
    """Who started a recording, safe for a channel: a Slack user as a mention, a keypad
    with the caller's number masked to its last 4 digits, anyone else escaped."""
    if actor.startswith(OWNER_PREFIX):
        user = actor[len(OWNER_PREFIX) :]
        if re.fullmatch(r"[UW][A-Z0-9]+", user):
            return f"<@{user}>"
    kind, _, rest = actor.partition(":")
    if kind == "keypad":
        digits = re.sub(r"\D", "", rest)
        return f"a moderator's keypad (…{digits[-4:]})" if digits else "a moderator's keypad"
    if kind == "cli" and rest:
        return f"{esc(rest)} (command line)"
    return esc(actor)


def file_name(recording: Recording) -> str:
    """``recording-<room>-<YYYYMMDD-HHMMSS>.<ext>``: letters, digits and dashes only."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", recording.room_name).strip("-").lower() or "room"
    started = _parse(recording.started_at)
    stamp = started.strftime("%Y%m%d-%H%M%S") if started else "unknown"
    suffix = Path(recording.path).suffix.lower() or ".wav"
    return f"recording-{slug[:40]}-{stamp}{suffix}"


def _parse(iso: str | None) -> datetime | None:
    if not iso:
        return None
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _utc(iso: str) -> str:
    moment = _parse(iso)
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else iso


def _when(iso: str) -> str:
    """A date Slack shows in each reader's time zone, with UTC as the fallback text."""
    moment = _parse(iso)
    if moment is None:
        return esc(iso)
    epoch = int(moment.timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} at {{time}}|{_utc(iso)}>"
