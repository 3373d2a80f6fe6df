"""Recordings reach Slack: the three-step upload against the fake Slack, through the real
slack_sdk client and the real app (``start_slack`` starts the uploader); the tracker is fed
``RecordingStopped`` as it publishes it, with WAV files written here. The same with a real
Asterisk recording is in test_recordings_asterisk.py."""

from __future__ import annotations

import math
import os
import struct
import wave
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.models import Recording, RecordingStatus
from bot.repository import Repository
from bot.service import ConferenceService
from bot.wiring import Deps
from commands import recording_file
from commands.app import SlackRunner, start_slack
from commands.live_cards import LiveCards
from commands.recordings import RecordingUploader, file_name, who
from commands.slack_settings import SlackSettings
from commands.wav import wav_info
from telephony.tracker import ParticipantTracker, RecordingStopped
from tests.commands.conftest import ADMIN, ADMIN_CHANNEL, CHANNEL, environ, eventually
from tests.fake_slack import FakeSlack, UploadedFile

RATE = 8000


def tone_samples(seconds: float, hz: float = 440.0, amplitude: int = 8000) -> bytes:
    count = int(seconds * RATE)
    return b"".join(
        struct.pack("<h", int(amplitude * math.sin(2 * math.pi * hz * i / RATE)))
        for i in range(count)
    )


def write_wav(path: Path, seconds: float) -> bytes:
    """A finished 8 kHz 16-bit mono WAV, as Asterisk leaves one: mode 0600 in a 0700 folder."""
    path.parent.mkdir(mode=0o700, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(tone_samples(seconds))
    path.chmod(0o600)
    return path.read_bytes()


def unfinished(done: bytes) -> bytes:
    """The same file while Asterisk still writes it: the header's sizes not yet filled in."""
    return done[:4] + struct.pack("<I", 36) + done[8:40] + struct.pack("<I", 0) + done[44:]


async def stopped_recording(
    service: ConferenceService, tracker: ParticipantTracker, room_id: int, path: Path
) -> None:
    """The tracker publishes that the room's recording ended, as it does on StopRecord."""
    tracker._emit(RecordingStopped(room_id, str(path)))


async def recording_of(service: ConferenceService, room_id: int) -> Recording:
    (recording,) = await service.recordings_of(room_id)
    return recording


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    recordings = tmp_path / "recordings"
    recordings.mkdir(mode=0o700)
    return recordings


@pytest.fixture
async def client(fake: FakeSlack) -> AsyncIterator[AsyncWebClient]:
    async with aiohttp.ClientSession() as session:
        yield AsyncWebClient(token="xoxb-test-token", base_url=fake.api_url, session=session)


async def running(
    deps: Deps, fake: FakeSlack, live: LiveCards, **extra: str
) -> tuple[SlackRunner, RecordingUploader]:
    """The app as ``serve`` starts it, with its uploader."""
    runner = await start_slack(deps, SlackSettings.from_environ(environ(fake, **extra)), live=live)
    assert runner.recordings is not None
    return runner, runner.recordings


# -- the fake's three steps, with slack_sdk's own client ------------------------------------


async def test_files_upload_v2_takes_the_three_steps(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    data = os.urandom(5000)
    response = await client.files_upload_v2(
        file=data, filename="a.wav", title="A", channel=CHANNEL, initial_comment="hi"
    )
    assert [c.method for c in fake.calls] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    announced = fake.calls_to("files.getUploadURLExternal")[0].args
    assert (announced["filename"], announced["length"]) == ("a.wav", "5000")
    (shared,) = fake.shared_files()
    assert response["file"]["id"] == shared.file_id
    assert (shared.data, shared.channel, shared.title, shared.initial_comment) == (
        data,
        CHANNEL,
        "A",
        "hi",
    )


async def test_the_fake_refuses_what_slack_refuses(fake: FakeSlack, client: AsyncWebClient) -> None:
    # Fewer bytes than announced: completeUploadExternal refuses the file.
    step1 = await client.files_getUploadURLExternal(filename="b.wav", length=10)
    async with aiohttp.ClientSession() as session:
        async with session.post(step1["upload_url"], data=b"12345") as answer:
            assert (answer.status, await answer.text()) == (200, "OK - 5")
    files = [{"id": step1["file_id"], "title": "B"}]
    with pytest.raises(SlackApiError) as short:
        await client.files_completeUploadExternal(files=files, channel_id=CHANNEL)
    assert short.value.response["error"] == "file_upload_size_mismatch"
    # A file id never announced, and one whose bytes never arrived.
    with pytest.raises(SlackApiError) as unknown:
        await client.files_completeUploadExternal(files=[{"id": "F404", "title": "x"}])
    assert unknown.value.response["error"] == "file_not_found"
    step1 = await client.files_getUploadURLExternal(filename="c.wav", length=3)
    with pytest.raises(SlackApiError) as empty:
        await client.files_completeUploadExternal(files=[{"id": step1["file_id"], "title": "C"}])
    assert empty.value.response["error"] == "file_not_found"
    # The upload URL is the file's own: a wrong token is not found.
    async with aiohttp.ClientSession() as session:
        wrong = step1["upload_url"].rsplit("/", 1)[0] + "/guess"
        async with session.post(wrong, data=b"abc") as answer:
            assert answer.status == 404
    assert fake.shared_files() == []


# -- the WAV header -----------------------------------------------------------------------


def test_wav_header_tells_duration_and_whether_it_is_finished(folder: Path) -> None:
    done = write_wav(folder / "a.wav", 2.5)
    info = wav_info(done)
    assert info is not None
    assert (info.rate, info.channels, info.bits) == (RATE, 1, 16)
    assert info.duration == pytest.approx(2.5)
    assert info.complete(len(done))
    assert not info.complete(len(done) + 320)  # more written since the header was
    partial = wav_info(unfinished(done))
    assert partial is not None and not partial.complete(len(done))
    assert wav_info(b"OggS" + bytes(100)) is None


def test_who_started_it_is_safe_for_a_channel() -> None:
    assert who("slack:U0123ABC") == "<@U0123ABC>"
    assert who("keypad:+15551234567") == "a moderator's keypad (…4567)"
    assert who("cli:<b>ob") == "&lt;b&gt;ob (command line)"
    assert who("slack:<!channel>") == "slack:&lt;!channel&gt;"


# -- the uploader in the running app --------------------------------------------------------


async def test_stopped_recording_reaches_the_cards_channel(
    deps: Deps, fake: FakeSlack, live: LiveCards, service: ConferenceService, folder: Path
) -> None:
    room = await service.create_room(name="Sales <weekly>", conference_id="4321", actor="t")
    await service.remember_card(channel=ADMIN_CHANNEL, ts="1.1", room_id=room.id,
                                include_pin=False, posted_by="slack:UX")  # fmt: skip
    await service.remember_card(channel=CHANNEL, ts="2.2", room_id=room.id,
                                include_pin=False, posted_by="slack:UX")  # fmt: skip
    runner, uploader = await running(deps, fake, live)
    try:
        path = folder / "room-1.wav"
        await service.recording_started(room, str(path), f"slack:{ADMIN}")
        data = write_wav(path, 3.0)
        await stopped_recording(service, deps.tracker, room.id, path)
        shared = await shared_file(fake)
        assert shared.data == data
        assert shared.channel == CHANNEL  # the most recent card's channel
        comment = shared.initial_comment or ""
        assert "*Sales &lt;weekly&gt;*" in comment
        assert f"by <@{ADMIN}>" in comment
        assert "Duration: 3 s" in comment
        recording = await recording_of(service, room.id)
        started = datetime.fromisoformat(recording.started_at)
        assert f"<!date^{int(started.timestamp())}^" in comment
        assert shared.filename == file_name(recording)
        await uploader.wait_idle()
        recording = await recording_of(service, room.id)
        # CONFERENCE_RECORDINGS_KEEP_DAYS unset: deleted as soon as Slack has it
        assert recording.status is RecordingStatus.DELETED
        assert (recording.channel, recording.file_id) == (CHANNEL, shared.file_id)
        assert not path.exists()
    finally:
        await runner.stop()


async def _first(fake: FakeSlack) -> UploadedFile | None:
    files = fake.shared_files()
    return files[0] if files else None


async def shared_file(fake: FakeSlack, timeout: float = 5.0) -> UploadedFile:
    """The first file shared through all three upload steps, waiting for it."""
    shared = await eventually(lambda: _first(fake), timeout)
    assert shared is not None
    return shared


async def _true(value: bool) -> bool:
    return value


async def test_without_a_card_it_goes_to_the_admins_and_waits_for_the_file(
    deps: Deps,
    fake: FakeSlack,
    live: LiveCards,
    service: ConferenceService,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    room = await service.create_room(name="Board", conference_id="4322", actor="t")
    runner, uploader = await running(deps, fake, live)
    try:
        path = folder / "board.wav"
        await service.recording_started(room, str(path), "keypad:1001")
        done = write_wav(path, 1.0)
        path.write_bytes(unfinished(done))  # Asterisk has not closed it yet
        looks: list[int] = []
        real_read = recording_file._read

        def read(at: Path, limit: int | None) -> tuple[int, bytes]:
            looks.append(limit or 0)
            return real_read(at, limit)

        monkeypatch.setattr(recording_file, "_read", read)
        await stopped_recording(service, deps.tracker, room.id, path)
        await eventually(lambda: _true(len(looks) >= 3))  # it looked, and waited
        assert not fake.calls_to("files.getUploadURLExternal")
        path.write_bytes(done)  # now it has
        shared = await shared_file(fake)
        assert shared.data == done  # never the unfinished one
        assert shared.channel == ADMIN_CHANNEL
        assert "by a moderator's keypad (…1001)" in (shared.initial_comment or "")
    finally:
        await runner.stop()


async def test_kept_days_then_swept(
    deps: Deps, fake: FakeSlack, live: LiveCards, service: ConferenceService, folder: Path
) -> None:
    room = await service.create_room(name="Board", conference_id="4323", actor="t")
    runner, uploader = await running(deps, fake, live, CONFERENCE_RECORDINGS_KEEP_DAYS="7")
    assert uploader.keep_days == 7
    try:
        path = folder / "kept.wav"
        await service.recording_started(room, str(path), "cli:ana")
        write_wav(path, 1.0)
        await stopped_recording(service, deps.tracker, room.id, path)
        await shared_file(fake)
        await uploader.wait_idle()
        assert (await recording_of(service, room.id)).status is RecordingStatus.UPLOADED
        assert path.exists()  # kept for 7 days
        assert await uploader.sweep() == 0
        assert path.exists()
        uploader._now = lambda: datetime.now(UTC) + timedelta(days=7, minutes=1)
        assert await uploader.sweep() == 1
        assert not path.exists()
        assert (await recording_of(service, room.id)).status is RecordingStatus.DELETED
    finally:
        await runner.stop()


async def test_failed_upload_keeps_the_file_and_tells_the_admins(
    deps: Deps, fake: FakeSlack, live: LiveCards, service: ConferenceService, folder: Path
) -> None:
    room = await service.create_room(name="Board", conference_id="4324", actor="t")
    runner, uploader = await running(deps, fake, live)
    try:
        fake.fail("files.completeUploadExternal", "internal_error")
        path = folder / "failed.wav"
        await service.recording_started(room, str(path), f"slack:{ADMIN}")
        write_wav(path, 1.0)
        await stopped_recording(service, deps.tracker, room.id, path)
        note = await fake.wait_for(
            "chat.postMessage", lambda c: c.args.get("channel") == ADMIN_CHANNEL
        )
        assert "*Board*" in note.args["text"] and "internal_error" in note.args["text"]
        assert str(path) in note.args["text"]
        await uploader.wait_idle()
        recording = await recording_of(service, room.id)
        assert recording.status is RecordingStatus.FAILED
        assert "internal_error" in (recording.error or "")
        assert path.exists()
        assert fake.shared_files() == []
    finally:
        await runner.stop()


async def test_the_upload_post_failing_counts_as_failed(
    deps: Deps, fake: FakeSlack, live: LiveCards, service: ConferenceService, folder: Path
) -> None:
    room = await service.create_room(name="Board", conference_id="4325", actor="t")
    runner, uploader = await running(deps, fake, live)
    try:
        fake.fail_uploads()
        path = folder / "post.wav"
        await service.recording_started(room, str(path), f"slack:{ADMIN}")
        write_wav(path, 1.0)
        await stopped_recording(service, deps.tracker, room.id, path)
        await fake.wait_for("chat.postMessage", lambda c: c.args.get("channel") == ADMIN_CHANNEL)
        await uploader.wait_idle()
        assert (await recording_of(service, room.id)).status is RecordingStatus.FAILED
        assert path.exists()
        assert not fake.calls_to("files.completeUploadExternal")
    finally:
        await runner.stop()


async def test_a_file_never_finished_is_failed_not_uploaded(
    deps: Deps, fake: FakeSlack, service: ConferenceService, folder: Path, client: AsyncWebClient
) -> None:
    room = await service.create_room(name="Board", conference_id="4326", actor="t")
    uploader = RecordingUploader(deps, client, ADMIN_CHANNEL, complete_timeout=0.3, poll=0.05)
    await uploader.start()
    try:
        path = folder / "cut.wav"
        await service.recording_started(room, str(path), f"slack:{ADMIN}")
        path.write_bytes(unfinished(write_wav(path, 1.0)))
        await uploader.on_update(RecordingStopped(room.id, str(path)))
        await uploader.wait_idle()
        recording = await recording_of(service, room.id)
        assert recording.status is RecordingStatus.FAILED
        assert "not finished" in (recording.error or "")
        assert path.exists() and not fake.calls_to("files.getUploadURLExternal")
    finally:
        await uploader.stop()


async def test_a_link_is_never_followed(
    deps: Deps, fake: FakeSlack, service: ConferenceService, folder: Path, client: AsyncWebClient
) -> None:
    """Asterisk's user writes the folder: a link in place of the file must not get another
    file uploaded."""
    room = await service.create_room(name="Board", conference_id="4327", actor="t")
    secret = folder.parent / "secret.wav"
    write_wav(secret, 1.0)
    path = folder / "link.wav"
    path.symlink_to(secret)
    uploader = RecordingUploader(deps, client, ADMIN_CHANNEL, complete_timeout=0.3, poll=0.05)
    await uploader.start()
    try:
        await service.recording_started(room, str(path), f"slack:{ADMIN}")
        await uploader.on_update(RecordingStopped(room.id, str(path)))
        await uploader.wait_idle()
        assert (await recording_of(service, room.id)).status is RecordingStatus.FAILED
        assert fake.shared_files() == [] and secret.exists()
    finally:
        await uploader.stop()


async def test_on_start_it_uploads_what_stopped_while_it_was_away(
    deps: Deps, fake: FakeSlack, service: ConferenceService, folder: Path, client: AsyncWebClient
) -> None:
    room = await service.create_room(name="Board", conference_id="4328", actor="t")
    path = folder / "away.wav"
    await service.recording_started(room, str(path), f"slack:{ADMIN}")
    data = write_wav(path, 2.0)
    assert await service.recording_stopped(str(path), None) is not None
    uploader = RecordingUploader(deps, client, ADMIN_CHANNEL)
    await uploader.start()
    try:
        await uploader.wait_idle()
        (shared,) = fake.shared_files()
        assert shared.data == data and "Duration: 2 s" in (shared.initial_comment or "")
        assert (await recording_of(service, room.id)).status is RecordingStatus.DELETED
        assert not path.exists()
    finally:
        await uploader.stop()


async def test_on_start_a_recording_that_ended_unheard_is_uploaded(
    deps: Deps, fake: FakeSlack, service: ConferenceService, folder: Path, client: AsyncWebClient
) -> None:
    """The tracker's first connect found the room no longer recording (it said so before
    Slack was up): the recording is stopped and uploaded all the same."""
    room = await service.create_room(name="Board", conference_id="4330", actor="t")
    ended, running_now = folder / "ended.wav", folder / "running.wav"
    await service.recording_started(room, str(ended), f"slack:{ADMIN}")
    data = write_wav(ended, 1.0)
    deps.tracker.online = True  # reconciled: nothing is being recorded
    uploader = RecordingUploader(deps, client, ADMIN_CHANNEL)
    await uploader.start()
    try:
        await uploader.wait_idle()
        (shared,) = fake.shared_files()
        assert shared.data == data
        recording = await recording_of(service, room.id)
        assert recording.status is RecordingStatus.DELETED and recording.stopped_at
    finally:
        await uploader.stop()
    # While the PBX is offline nothing is known: a recording in progress is left alone.
    other = await service.create_room(name="Other", conference_id="4331", actor="t")
    await service.recording_started(other, str(running_now), f"slack:{ADMIN}")
    deps.tracker.online = False
    uploader = RecordingUploader(deps, client, ADMIN_CHANNEL)
    await uploader.start()
    try:
        await uploader.wait_idle()
        assert (await recording_of(service, other.id)).status is RecordingStatus.RECORDING
    finally:
        await uploader.stop()


async def test_a_deleted_rooms_recordings_are_deleted(
    deps: Deps, fake: FakeSlack, service: ConferenceService, folder: Path, client: AsyncWebClient
) -> None:
    room = await service.create_room(name="Board", conference_id="4329", actor="t")
    uploader = RecordingUploader(deps, client, ADMIN_CHANNEL, keep_days=30)
    await uploader.start()
    try:
        kept = folder / "kept.wav"
        await service.recording_started(room, str(kept), f"slack:{ADMIN}")
        write_wav(kept, 1.0)
        await uploader.on_update(RecordingStopped(room.id, str(kept)))
        await uploader.wait_idle()
        assert kept.exists() and len(fake.shared_files()) == 1
        failed = folder / "failed.wav"
        fake.fail("files.completeUploadExternal", "internal_error")
        await service.recording_started(room, str(failed), f"slack:{ADMIN}")
        write_wav(failed, 1.0)
        await uploader.on_update(RecordingStopped(room.id, str(failed)))
        await uploader.wait_idle()
        assert failed.exists()
        await service.delete_room(room.id, actor="test:admin")
        await uploader.wait_idle()
        assert not kept.exists() and not failed.exists()
    finally:
        await uploader.stop()


async def test_keep_days_setting() -> None:
    assert SlackSettings.from_environ({}).recordings_keep_days == 0
    env = {"CONFERENCE_RECORDINGS_KEEP_DAYS": "30"}
    assert SlackSettings.from_environ(env).recordings_keep_days == 30
    with pytest.raises(Exception, match="CONFERENCE_RECORDINGS_KEEP_DAYS"):
        SlackSettings.from_environ({"CONFERENCE_RECORDINGS_KEEP_DAYS": "-1"})


async def test_a_room_deleted_by_another_process_is_swept(
    deps: Deps,
    fake: FakeSlack,
    service: ConferenceService,
    folder: Path,
    client: AsyncWebClient,
    tmp_path: Path,
) -> None:
    room = await service.create_room(name="Board", conference_id="4332", actor="t")
    kept = folder / "kept.wav"
    await service.recording_started(room, str(kept), f"slack:{ADMIN}")
    write_wav(kept, 1.0)
    uploader = RecordingUploader(deps, client, ADMIN_CHANNEL, keep_days=30)
    await uploader.start()
    try:
        await uploader.on_update(RecordingStopped(room.id, str(kept)))
        await uploader.wait_idle()
        assert kept.exists() and len(fake.shared_files()) == 1
        cli = await Repository.open(tmp_path / "conference.db")  # the CLI's own connection
        try:
            await ConferenceService(cli).delete_room("Board", actor="cli:ana")
        finally:
            await cli.close()
        assert kept.exists()  # this process was not told
        await uploader.sweep()
        assert not kept.exists()
        recording = await service.recording(1)
        assert recording is not None and recording.status is RecordingStatus.DELETED
    finally:
        await uploader.stop()


async def test_a_room_deleted_while_the_bot_was_down_loses_its_files_at_start(
    deps: Deps, fake: FakeSlack, service: ConferenceService, folder: Path, client: AsyncWebClient
) -> None:
    """No uploader followed the deletion (the CLI, bot down): the database only knows the
    recordings' room is gone; the first sweep, at start, deletes their files."""
    room = await service.create_room(name="Board", conference_id="4334", actor="t")
    kept, failed = folder / "kept.wav", folder / "failed.wav"
    for path, status in ((kept, "uploaded"), (failed, "failed")):
        recording = await service.recording_started(room, str(path), f"slack:{ADMIN}")
        write_wav(path, 1.0)
        await service.recording_stopped(str(path), None)
        if status == "uploaded":
            await service.recording_uploaded(recording.id, CHANNEL, "F1")
        else:
            await service.recording_failed(recording.id, "internal_error")
    await service.delete_room(room.id, actor="cli:ana")
    assert kept.exists() and failed.exists()
    uploader = RecordingUploader(deps, client, ADMIN_CHANNEL, keep_days=30)
    await uploader.start()
    try:
        await uploader.wait_idle()
        assert not kept.exists() and not failed.exists()
        assert not fake.shared_files()  # deleted, not uploaded
        statuses = {r.status for r in await service.orphaned_recordings()}
        assert statuses == {RecordingStatus.DELETED}
    finally:
        await uploader.stop()


async def test_not_in_the_cards_channel_it_goes_to_the_admins(
    deps: Deps, fake: FakeSlack, service: ConferenceService, folder: Path, client: AsyncWebClient
) -> None:
    room = await service.create_room(name="Board", conference_id="4333", actor="t")
    await service.remember_card(channel=CHANNEL, ts="2.2", room_id=room.id,
                                include_pin=False, posted_by="slack:UX")  # fmt: skip
    fake.fail("files.completeUploadExternal", "not_in_channel")
    uploader = RecordingUploader(deps, client, ADMIN_CHANNEL)
    await uploader.start()
    try:
        path = folder / "elsewhere.wav"
        await service.recording_started(room, str(path), f"slack:{ADMIN}")
        data = write_wav(path, 1.0)
        await uploader.on_update(RecordingStopped(room.id, str(path)))
        await uploader.wait_idle()
        (shared,) = fake.shared_files()
        assert (shared.data, shared.channel) == (data, ADMIN_CHANNEL)
        assert f"Could not share it in <#{CHANNEL}>: not_in_channel" in (
            shared.initial_comment or ""
        )
        assert (await recording_of(service, room.id)).channel == ADMIN_CHANNEL
    finally:
        await uploader.stop()
