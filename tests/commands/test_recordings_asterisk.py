"""A real recording reaches Slack: a sipp caller plays a tone into a room of a real Asterisk,
the service starts and stops recording (``record_call``), and the uploader started by the real
app uploads what ConfBridge wrote to the fake Slack in three steps: a WAV of the right length
holding the caller's tone. The file is deleted once uploaded (keep-days 0), kept with
keep-days > 0, and kept, marked failed and told to the admins when the upload fails.

The caller's keys and audio are an RTP stream played from a pcap (tests/sipp/call_pcap.xml)
through a raw socket: root only, as the tests run here and in CI.
"""

from __future__ import annotations

import asyncio
import io
import math
import os
import struct
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.models import Recording, RecordingStatus, Role
from bot.service import ConferenceService
from bot.wiring import Deps
from commands.app import SlackRunner
from commands.recordings import RecordingUploader
from tests.commands.conftest import ADMIN, ADMIN_CHANNEL, pbx_deps
from tests.fake_slack import FakeSlack, UploadedFile
from tests.pbx_fixtures import Pbx, eventually
from tests.telephony.dtmf_audio import (
    PCMU,
    SAMPLES,
    RtpPacket,
    rfc4733_packets,
    tone_amplitude,
    ulaw_encode,
    write_pcap,
)

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="sipp plays the caller's audio from a pcap (play_pcap_audio) through a raw "
    "socket, which needs root",
)

TONE_HZ = 1000.0
ROOM_ID = "4330"


@pytest.fixture
async def deps(service: ConferenceService, shared_pbx: Pbx, tmp_path: Path) -> AsyncIterator[Deps]:
    """The real telephony stack in place of the never-started AMI client of the other tests."""
    async with pbx_deps(service, shared_pbx, tmp_path) as real:
        yield real


def caller_stream(keys: str, tone_seconds: float) -> list[RtpPacket]:
    """The room's keys as RFC 4733 events, then a steady tone at -10 dBm0 (mu-law)."""
    packets = rfc4733_packets(keys, lead_ms=1000)
    last = packets[-1]
    amp = tone_amplitude(-10.0)
    for n in range(1, int(tone_seconds * 50) + 1):
        samples = (amp * math.sin(2 * math.pi * TONE_HZ * ((n * SAMPLES + i) / 8000))
                   for i in range(SAMPLES))  # fmt: skip
        payload = bytes(ulaw_encode(round(s)) for s in samples)
        packets.append(RtpPacket(round(last.at + n * 0.02, 6), PCMU, False,
                                 (last.seq + n) & 0xFFFF, last.timestamp + n * SAMPLES,
                                 payload))  # fmt: skip
    return packets


def pcm(data: bytes) -> tuple[int, list[int]]:
    """A WAV's rate and samples (16-bit mono, as ConfBridge records)."""
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        frames = wav.readframes(wav.getnframes())
        return wav.getframerate(), list(struct.unpack(f"<{len(frames) // 2}h", frames))


def tone_share(samples: list[int], rate: int, hz: float) -> float:
    """How much of the samples' energy is at ``hz`` (Goertzel), 0..1."""
    coeff = 2 * math.cos(2 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    energy = sum(x * x for x in samples) * len(samples) / 2
    return power / energy if energy else 0.0


async def record_for(
    service: ConferenceService, deps: Deps, room_id: int, seconds: float
) -> tuple[Recording, float]:
    """Start recording, wait until the file holds ``seconds`` of audio, stop; the recording
    and how long it lasted between the PBX's two confirmations."""
    started = await service.record_call(room_id, True, calls=deps.pbx,
                                        actor=f"slack:{ADMIN}", role=Role.ADMIN)  # fmt: skip
    t0 = time.monotonic()
    assert started is not None
    path = Path(started.path)
    await eventually(lambda: path.exists() and path.stat().st_size >= 44 + seconds * 16000,
                     timeout=seconds + 10, what="the recording to grow")  # fmt: skip
    stopped = await service.record_call(room_id, False, calls=deps.pbx,
                                        actor=f"slack:{ADMIN}", role=Role.ADMIN)  # fmt: skip
    assert stopped is not None and stopped.path == started.path
    return stopped, time.monotonic() - t0


def on_disk(path: str) -> bool:
    return Path(path).exists()


def modes(path: str) -> tuple[int, int]:
    return Path(path).stat().st_mode & 0o777, Path(path).parent.stat().st_mode & 0o777


async def status_of(service: ConferenceService, recording: Recording) -> RecordingStatus:
    found = await service.recording(recording.id)
    assert found is not None
    return found.status


async def test_a_real_recording_reaches_slack(
    runner: SlackRunner,
    fake: FakeSlack,
    service: ConferenceService,
    deps: Deps,
    shared_pbx: Pbx,
    tmp_path: Path,
) -> None:
    uploader = runner.recordings
    assert isinstance(uploader, RecordingUploader) and uploader.keep_days == 0
    room = await service.create_room(name="Sales <weekly>", conference_id=ROOM_ID, actor="t")
    pcap = write_pcap(tmp_path / "caller.pcap", caller_stream(f"{ROOM_ID}#", 40.0))
    call = shared_pbx.sipp.call_pcap("800", pcap, telephone_event=True,
                                     wait_for_hangup=True, tag="recorded")  # fmt: skip
    caller = asyncio.create_task(call)
    try:
        await eventually(lambda: deps.tracker.count(room.id) == 1, timeout=20,
                         what="the caller in the room")  # fmt: skip

        # 1. Uploaded, then deleted (CONFERENCE_RECORDINGS_KEEP_DAYS unset).
        first, lasted = await record_for(service, deps, room.id, 3.0)
        shared = await _shared(fake, 1)
        rate, samples = pcm(shared.data or b"")
        assert abs(len(samples) / rate - lasted) <= 1.0, (len(samples) / rate, lasted)
        rms = math.sqrt(sum(x * x for x in samples) / len(samples))
        assert rms > 300, rms  # not silence
        # The caller's tone, after the "being recorded" announcement has ended.
        assert tone_share(samples[-rate // 2 :], rate, TONE_HZ) > 0.5
        assert shared.channel == ADMIN_CHANNEL  # no dial-in card was posted
        comment = shared.initial_comment or ""
        assert "*Sales &lt;weekly&gt;*" in comment and f"by <@{ADMIN}>" in comment
        seconds = round(len(samples) / rate)
        assert f"Duration: {seconds} s" in comment
        await uploader.wait_idle()
        assert not on_disk(first.path)
        assert await status_of(service, first) is RecordingStatus.DELETED

        # 2. Kept when CONFERENCE_RECORDINGS_KEEP_DAYS says so.
        uploader.keep_days = 7
        second, _ = await record_for(service, deps, room.id, 1.5)
        await _shared(fake, 2)
        await uploader.wait_idle()
        assert on_disk(second.path)
        assert await status_of(service, second) is RecordingStatus.UPLOADED
        assert modes(second.path) == (0o600, 0o700)  # the file, its folder

        # 3. Slack refuses it: kept, failed, and the admins are told.
        fake.fail("files.completeUploadExternal", "internal_error")
        third, _ = await record_for(service, deps, room.id, 1.5)
        note = await fake.wait_for(
            "chat.postMessage",
            lambda c: c.args.get("channel") == ADMIN_CHANNEL and "internal_error" in c.args["text"],
            timeout=15,
        )
        assert "Sales &lt;weekly&gt;" in note.args["text"]
        await uploader.wait_idle()
        assert on_disk(third.path)
        assert await status_of(service, third) is RecordingStatus.FAILED
        assert len(fake.shared_files()) == 2
    finally:
        await service.end_call(room.id, calls=deps.pbx, actor="t", role=Role.ADMIN)
        await asyncio.wait_for(caller, 20)


async def _shared(fake: FakeSlack, count: int) -> UploadedFile:
    async def enough() -> bool:
        return len(fake.shared_files()) >= count

    await eventually(enough, timeout=20, what=f"{count} file(s) shared")
    return fake.shared_files()[count - 1]
