"""Recordings of rooms' calls, as the database keeps them: started (``record_call``), stopped
(by a person, or with the call), then uploaded to Slack or failed, and finally deleted.

The files themselves are the PBX's (``telephony.pbx_actions``); the uploader
(``commands.recordings``) follows ``recordings_to_upload`` and reports back here. Nothing here
is a person's action, so nothing here is audited: ``record_call`` audits the start and stop.
"""

from __future__ import annotations

from bot.models import Recording, RecordingStatus, Room
from bot.service.base import ServiceBase, now_iso


class RecordingsMixin(ServiceBase):
    """Each recording's row: who started and stopped it, and where the file went."""

    async def recording_started(self, room: Room, path: str, actor: str) -> Recording:
        """Remember a recording Asterisk has started writing to ``path``."""
        async with self.repo.write() as repo:
            rid = await repo.insert_recording(room_id=room.id, room_name=room.name, path=path,
                                              started_by=actor, started_at=now_iso())  # fmt: skip
            found = await repo.recording_by_id(rid)
        assert found is not None
        return found

    async def recording_stopped(self, path: str, actor: str | None) -> Recording | None:
        """The recording to ``path`` ended (``actor`` stopped it; None: the call ended, or
        we only saw it end). Safe to call more than once: the first stop time stays, and a
        later call names who stopped it if the first did not. None for a file we never
        started."""
        async with self.repo.write() as repo:
            found = await repo.recording_by_path(path)
            if found is None:
                return None
            await repo.stop_recording(found.id, stopped_by=actor, stopped_at=now_iso())
            return await repo.recording_by_id(found.id)

    async def recordings_to_upload(self) -> list[Recording]:
        """Stopped recordings not uploaded yet, oldest first."""
        async with self.repo.read() as repo:
            return await repo.list_recordings(status=RecordingStatus.STOPPED)

    async def recording_uploaded(self, recording_id: int, channel: str, file_id: str) -> None:
        async with self.repo.write() as repo:
            await repo.set_recording_uploaded(recording_id, channel=channel, file_id=file_id,
                                              uploaded_at=now_iso())  # fmt: skip

    async def recording_failed(self, recording_id: int, error: str) -> None:
        """The upload failed; the file is kept (``error`` says why)."""
        async with self.repo.write() as repo:
            await repo.set_recording_status(recording_id, RecordingStatus.FAILED, error=error)

    async def recording_deleted(self, recording_id: int) -> None:
        """The file is gone (deleted after upload, after the keep period, or with its room)."""
        async with self.repo.write() as repo:
            found = await repo.recording_by_id(recording_id)
            if found is not None:
                await repo.set_recording_status(recording_id, RecordingStatus.DELETED,
                                                error=found.error)  # fmt: skip

    async def recording(self, recording_id: int) -> Recording | None:
        async with self.repo.read() as repo:
            return await repo.recording_by_id(recording_id)

    async def orphaned_recordings(self) -> list[Recording]:
        """Recordings of rooms deleted since (their files go with their room), oldest first;
        also those deleted by another process or while the bot was down."""
        async with self.repo.read() as repo:
            return await repo.list_recordings(orphaned=True)

    async def recordings_of(self, room_id: int) -> list[Recording]:
        """A room's recordings, oldest first (none once the room is deleted)."""
        async with self.repo.read() as repo:
            return await repo.list_recordings(room_id=room_id)
