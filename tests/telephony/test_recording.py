"""Recording a live call and talk detection, against a real Asterisk: a sipp caller plays real
audio (an RTP stream from a pcap: its keys as RFC 4733 events, then a tone) into the room.

sipp plays pcaps through a raw socket, so these tests need root (CI runs as root)."""

from __future__ import annotations

import asyncio
import math
import os
import stat
import struct
import time
import wave
from pathlib import Path

import pytest

from bot import errors
from bot.models import RecordingStatus
from bot.wiring import follow_recordings, watch_keypad
from telephony.naming import RECORDING_KEY, live_family
from telephony.tracker import RecordingStopped, RoomSnapshot
from tests.pbx_fixtures import Pbx, Stack, eventually
from tests.telephony.dtmf_audio import (
    PCMU,
    PTIME_MS,
    SAMPLES,
    SILENCE,
    RtpPacket,
    rfc4733_packets,
    tone_amplitude,
    ulaw_encode,
    write_pcap,
)
from tests.telephony.sipp import SippResult

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="sipp plays RTP from a pcap through a raw socket: root only"
)

RATE = 8000
TONE_HZ = 500  # no keypad frequency: heard as a voice, never as a key


def keys_then_voice(keys: str, *, wait_ms: int, talk_ms: int, quiet_ms: int) -> list[RtpPacket]:
    """``keys`` as RFC 4733 events (the IVR), ``wait_ms`` of silence (joining), ``talk_ms``
    of a steady tone at -10 dBm0 (someone talking), then ``quiet_ms`` of silence."""
    packets = rfc4733_packets(keys, lead_ms=1000)
    last = packets[-1]
    at, seq, ts = last.at, last.seq, last.timestamp
    amp = tone_amplitude(-10.0)
    n = 0

    def send(payload: bytes) -> None:
        nonlocal at, seq, ts
        at, seq, ts = at + PTIME_MS / 1000, (seq + 1) & 0xFFFF, ts + SAMPLES
        packets.append(RtpPacket(round(at, 6), PCMU, False, seq, ts, payload))

    for _ in range(wait_ms // PTIME_MS):
        send(SILENCE)
    for _ in range(talk_ms // PTIME_MS):
        samples = (round(amp * math.sin(2 * math.pi * TONE_HZ * (n + i) / RATE))
                   for i in range(SAMPLES))  # fmt: skip
        n += SAMPLES
        send(bytes(ulaw_encode(s) for s in samples))
    for _ in range(quiet_ms // PTIME_MS):
        send(SILENCE)
    return packets


def wav_facts(path: Path) -> tuple[float, float]:
    """(seconds, RMS level of the 16-bit samples) of a WAV file."""
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2, "16-bit samples expected"
        frames = w.readframes(w.getnframes())
        seconds = w.getnframes() / w.getframerate()
    samples = struct.unpack(f"<{len(frames) // 2}h", frames)
    rms = math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0
    return seconds, rms


async def astdb(stack: Stack, family: str, key: str) -> str | None:
    listing = await stack.ami.list_action({"Action": "DBGet", "Family": family, "Key": key})
    return next((str(m.get("Val", "")) for m in listing if "Val" in m), None)


def voice_call(pbx: Pbx, tmp_path: Path, *, talk_ms: int, tag: str) -> asyncio.Task[SippResult]:
    pcap = write_pcap(
        tmp_path / f"{tag}.pcap", keys_then_voice("4321#", wait_ms=1500, talk_ms=talk_ms,
                                                  quiet_ms=4000),
    )  # fmt: skip
    call = pbx.sipp.call_pcap("800", pcap, telephone_event=True, caller="alice", hold_ms=500,
                              tag=tag)  # fmt: skip
    return asyncio.create_task(call)


async def test_talking_from_real_audio_and_a_recording_of_it(
    shared_pbx: Pbx, make_stack, tmp_path: Path
) -> None:
    stack = await make_stack(shared_pbx)
    room = await stack.service.create_room(name="Board", conference_id="4321", actor="test")
    joins: list[str] = []
    stack.ami.register_event("ConfbridgeJoin", lambda m: joins.append(str(m.get("Channel"))))

    listener = asyncio.create_task(shared_pbx.sipp.call(
        "800", dtmf="4321#", caller="bob", password="bob-password-1", wait_for_hangup=True,
        tag="rec-listener",
    ))  # fmt: skip
    await eventually(lambda: stack.tracker.count(room.id) == 1, what="bob in")
    speaker = voice_call(shared_pbx, tmp_path, talk_ms=7000, tag="rec-voice")

    def alice() -> list[bool]:
        return [
            p.talking for p in stack.tracker.participants(room.id) if p.caller_id_num == "alice"
        ]

    await eventually(lambda: stack.tracker.count(room.id) == 2, what="alice in")
    await eventually(lambda: alice() == [True], what="alice talking (ConfbridgeTalking on)")
    assert [p.talking for p in stack.tracker.participants(room.id) if p.caller_id_num == "bob"] == [
        False
    ]

    row = await stack.service.record_call("Board", True, calls=stack.actions, actor="test")
    assert row is not None and row.status is RecordingStatus.RECORDING
    started = time.monotonic()
    path = Path(row.path)
    assert path.parent == shared_pbx.cfg.recordings_dir
    assert stack.tracker.room_state(room.id).recording
    assert await astdb(stack, live_family(room.id), RECORDING_KEY) == "1"
    with pytest.raises(errors.AlreadyRecording):
        await stack.service.record_call("Board", True, calls=stack.actions, actor="test")
    # The announcer joined to tell everyone, and is nobody's participant.
    await eventually(lambda: any(c.startswith("Local/recording-on@") for c in joins),
                     what="the announcer in the room")  # fmt: skip
    assert stack.tracker.count(room.id) == 2

    await asyncio.sleep(3.0)  # the length of the recording (alice's tone plays throughout)
    stopped = await stack.service.record_call("Board", False, calls=stack.actions, actor="cli:x")
    length = time.monotonic() - started
    assert stopped is not None and stopped.status is RecordingStatus.STOPPED
    assert stopped.stopped_by == "cli:x" and stopped.path == row.path
    assert not stack.tracker.room_state(room.id).recording
    await eventually(lambda: RecordingStopped(room.id, row.path) in stack.updates,
                     what="RecordingStopped")  # fmt: skip
    assert await astdb(stack, live_family(room.id), RECORDING_KEY) is None
    assert await stack.service.recordings_to_upload() == [stopped]
    with pytest.raises(errors.NotRecording):
        await stack.service.record_call("Board", False, calls=stack.actions, actor="test")

    # The file: private, complete, about as long as the recording, and not silence.
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    await eventually(lambda: path.exists() and wav_complete(path), what="the WAV closed")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    seconds, rms = wav_facts(path)
    assert abs(seconds - length) < 1.0, (seconds, length)
    assert rms > 1000, f"the recording is silence (RMS {rms:.0f})"

    # The tone ends: talking off (Asterisk's silence threshold, 2.5 s).
    await eventually(lambda: alice() in ([False], []), timeout=10, what="alice stopped talking")
    assert (await asyncio.wait_for(speaker, 30)).ok
    await eventually(lambda: stack.tracker.count(room.id) == 1, what="alice gone")
    await stack.service.end_call("Board", calls=stack.actions, actor="test")
    assert (await asyncio.wait_for(listener, 20)).ok
    snaps = [u for u in stack.updates if isinstance(u, RoomSnapshot) and u.room_id == room.id]
    assert any(s.recording for s in snaps) and not snaps[-1].recording
    audit = [e.action for e in await stack.service.audit_log(5)]
    assert "call.record_start" in audit and "call.record_stop" in audit


def wav_complete(path: Path) -> bool:
    """The RIFF and data sizes in the header agree with the file's length."""
    data = path.read_bytes()
    if len(data) < 44 or data[:4] != b"RIFF":
        return False
    riff: int = struct.unpack("<I", data[4:8])[0]
    return riff + 8 == len(data)


async def test_a_talker_hangs_up_mid_word_and_the_end_of_the_call_stops_the_recording(
    shared_pbx: Pbx, make_stack, tmp_path: Path
) -> None:
    stack = await make_stack(shared_pbx)
    follow_recordings(stack.tracker, stack.service)  # as serve does
    room = await stack.service.create_room(name="Board", conference_id="4321", actor="test")
    # The tone runs to the end of the call: alice hangs up while talking.
    pcap = write_pcap(tmp_path / "midword.pcap",
                      keys_then_voice("4321#", wait_ms=1500, talk_ms=6000, quiet_ms=0))  # fmt: skip
    speaker = asyncio.create_task(shared_pbx.sipp.call_pcap(
        "800", pcap, telephone_event=True, caller="alice", hold_ms=0, tag="midword"))  # fmt: skip
    await eventually(lambda: any(p.talking for p in stack.tracker.participants(room.id)),
                     what="alice talking")  # fmt: skip
    row = await stack.service.record_call(room.id, True, calls=stack.actions, actor="test")
    assert row is not None
    assert (await asyncio.wait_for(speaker, 30)).ok
    await eventually(lambda: stack.tracker.count(room.id) == 0, what="alice gone")
    snaps = [u for u in stack.updates if isinstance(u, RoomSnapshot) and u.room_id == room.id]
    assert snaps[-1].participants == () and not snaps[-1].recording
    # The call ended while recording: the recording ended with it, and its mark is cleared.
    await eventually(lambda: RecordingStopped(room.id, row.path) in stack.updates,
                     what="RecordingStopped at the end of the call")  # fmt: skip
    await eventually(lambda: _absent(stack, room.id), what="the recording mark cleared")

    async def stopped() -> bool:
        [rec] = await stack.service.recordings_of(room.id)
        return rec.status is RecordingStatus.STOPPED and rec.stopped_by is None

    await eventually(stopped, what="the recording marked stopped, ready to upload")
    path = Path(row.path)
    await eventually(lambda: path.exists() and wav_complete(path), what="the WAV closed")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


async def _absent(stack: Stack, room_id: int) -> bool:
    return await astdb(stack, live_family(room_id), RECORDING_KEY) is None


async def test_a_moderators_keypad_starts_and_stops_recording(
    shared_pbx: Pbx, make_stack, tmp_path: Path
) -> None:
    stack = await make_stack(shared_pbx)
    keypad = watch_keypad(stack.ami, stack.tracker, stack.actions, stack.service)  # as serve
    room = await stack.service.create_room(name="Board", conference_id="4321",
                                           moderator_pin="9999", actor="test")  # fmt: skip
    # *4 (SIP INFO) two seconds after joining, and again three seconds later.
    call = await shared_pbx.sipp.call("800", dtmf="4321#9999#,,*4,,,*4,", caller="alice",
                                      hold_ms=1500, tag="keypad-rec")  # fmt: skip
    assert call.ok, call.log
    await eventually(lambda: any(isinstance(u, RecordingStopped) for u in stack.updates),
                     what="the recording stopped by *4")  # fmt: skip
    audit = [(e.action, e.actor) for e in await stack.service.audit_log(10)]
    assert ("call.record_start", "keypad:alice") in audit
    assert ("call.record_stop", "keypad:alice") in audit
    [row] = await stack.service.recordings_of(room.id)
    assert row.started_by == "keypad:alice" and row.stopped_by == "keypad:alice"
    path = Path(row.path)
    await eventually(lambda: path.exists() and wav_complete(path), what="the WAV closed")
    seconds, _ = wav_facts(path)
    assert 2.0 < seconds < 5.0, seconds
    await keypad.close()
