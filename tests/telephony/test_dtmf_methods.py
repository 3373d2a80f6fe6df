"""Keys the way phones and carriers send them (issue 9): SIP INFO, RFC 4733 telephone-events
and in-band tones each key in a conference ID and a PIN that take the caller into the right
room, and a wrong PIN keyed the same way is refused.

SIP INFO calls use tests/sipp/call.xml; the other two play an RTP stream written by
tests/telephony/dtmf_audio.py (tests/sipp/call_pcap.xml), which sipp sends through a raw
socket: those run as root only (as the tests do here and in CI) and are skipped otherwise.
In-band tones are heard only by an endpoint with ``dtmf_mode = auto`` (or ``inband``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from telephony.tracker import RoomSnapshot
from tests.pbx_fixtures import Pbx, Stack, eventually
from tests.telephony.dtmf_audio import (
    EVENT_CODES,
    PCMU,
    SAMPLES,
    TELEPHONE_EVENT,
    RtpPacket,
    duration_ms,
    events_sent,
    inband_packets,
    keys_heard,
    read_pcap,
    rfc4733_packets,
    write_pcap,
)
from tests.telephony.sipp import SippResult

ROOT_ONLY = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="sipp plays RTP from a pcap (play_pcap_audio) through a raw socket, which needs "
    "root: run the tests as root, as CI does",
)
METHODS = [
    pytest.param("info", id="sip-info"),
    pytest.param("rfc4733", id="rfc4733", marks=ROOT_ONLY),
    pytest.param("inband", id="inband", marks=ROOT_ONLY),
]
# Long enough for the slowest method (SIP INFO: one key each 300 ms) and well under the
# IVR's 10 s per attempt, so keys the PBX does not hear fail here, not 30 s later.
JOIN_TIMEOUT = 12.0


async def key_in(
    pbx: Pbx,
    method: str,
    keys: str,
    work: Path,
    *,
    tag: str,
    caller: str = "alice",
    password: str = "alice-password-1",
    hold_ms: int = 0,
    wait_for_hangup: bool = False,
) -> SippResult:
    """A call from a phone that keys in ``keys`` by ``method`` (info, rfc4733 or inband)."""
    if method == "info":
        return await pbx.sipp.call(
            "800", dtmf=keys, caller=caller, password=password, hold_ms=hold_ms,
            wait_for_hangup=wait_for_hangup, tag=tag,
        )  # fmt: skip
    build = rfc4733_packets if method == "rfc4733" else inband_packets
    # A second of silence first, as a phone's user would wait for the prompt: keys sent
    # before the IVR's first Read() are lost (it starts 0.2 s after answer, later under
    # load; 0.5 s of lead failed once in a fresh-clone run).
    pcap = write_pcap(work / f"{tag}.pcap", build(keys, lead_ms=1000))
    return await pbx.sipp.call_pcap(
        "800", pcap, telephone_event=method == "rfc4733", caller=caller, password=password,
        hold_ms=hold_ms, wait_for_hangup=wait_for_hangup, tag=tag,
    )  # fmt: skip


async def settled(
    calls: list[asyncio.Task[SippResult]], check: Callable[[], Awaitable[None]]
) -> list[SippResult]:
    """Run ``check`` while ``calls`` are up; calls still running when it fails are ended."""
    try:
        await check()
    except BaseException:
        for task in calls:
            task.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        raise
    return await asyncio.gather(*calls)


@pytest.mark.parametrize("method", METHODS)
async def test_id_and_pin_take_each_caller_to_their_room(
    method: str, shared_pbx: Pbx, make_stack, tmp_path: Path
) -> None:
    stack: Stack = await make_stack(shared_pbx)
    sales = await stack.service.create_room(name="Sales", conference_id="4321", pin="5678",
                                            actor="test")  # fmt: skip
    board = await stack.service.create_room(name="Board", conference_id="8765", pin="1234",
                                            actor="test")  # fmt: skip
    calls = [
        asyncio.create_task(key_in(shared_pbx, method, "8765#1234#", tmp_path, tag="alice",
                                   hold_ms=1500)),
        asyncio.create_task(key_in(shared_pbx, method, "4321#5678#", tmp_path, tag="bob",
                                   caller="bob", password="bob-password-1", hold_ms=1500)),
    ]  # fmt: skip

    async def both_in() -> None:
        await eventually(lambda: stack.tracker.count(board.id) == 1 and
                         stack.tracker.count(sales.id) == 1,
                         timeout=JOIN_TIMEOUT, what=f"both callers in by {method}")  # fmt: skip
        [in_board] = stack.tracker.participants(board.id)
        [in_sales] = stack.tracker.participants(sales.id)
        assert in_board.caller_id_num == "alice" and in_board.channel.startswith("PJSIP/alice-")
        assert in_sales.caller_id_num == "bob" and in_sales.channel.startswith("PJSIP/bob-")
        assert await stack.counts_agree()

    results = await settled(calls, both_in)
    assert all(r.ok for r in results), "\n".join(r.log for r in results)
    await eventually(lambda: stack.tracker.counts() == {}, what="callers gone")
    assert not stack.user_events("ConferencePinFailed")
    assert not stack.user_events("ConferenceInvalidId")


@pytest.mark.parametrize("method", METHODS)
async def test_a_wrong_pin_is_refused(
    method: str, shared_pbx: Pbx, make_stack, tmp_path: Path
) -> None:
    stack: Stack = await make_stack(shared_pbx)
    room = await stack.service.create_room(name="Sales", conference_id="4321", pin="5678",
                                           actor="test")  # fmt: skip
    call = asyncio.create_task(key_in(shared_pbx, method, "4321#1111#2222#3333#", tmp_path,
                                      tag="wrong-pin", wait_for_hangup=True))  # fmt: skip

    async def refused() -> None:
        await eventually(
            lambda: bool(stack.user_events("ConferencePinFailed")),
            timeout=JOIN_TIMEOUT + 3, what=f"wrong PIN by {method} refused",
        )  # fmt: skip

    [result] = await settled([call], refused)
    assert result.ok, result.log  # the PBX hung up
    [failed] = stack.user_events("ConferencePinFailed")
    assert failed["Room"] == str(room.id) and failed["Tries"] == "3"
    assert not any(isinstance(u, RoomSnapshot) and u.count for u in stack.updates)
    assert stack.tracker.count(room.id) == 0


# --- the streams themselves (no PBX, no root) ---------------------------------------------


def _well_timed(packets: list[RtpPacket]) -> None:
    seqs = [p.seq for p in packets]
    assert seqs == list(range(seqs[0], seqs[0] + len(packets)))
    assert [round(p.at * 1000) for p in packets] == [20 * i for i in range(len(packets))]
    audio = [p for p in packets if p.payload_type == PCMU]
    assert all(len(p.payload) == SAMPLES for p in audio)
    for p in audio:  # an audio packet's timestamp is its sampling time
        assert p.timestamp == audio[0].timestamp + round(p.at * 1000) * 8
    assert packets[0].payload_type == PCMU and packets[0].at == 0
    assert all(p.payload == audio[0].payload for p in packets[:25])  # half a second of silence


def test_inband_stream_carries_the_tones(tmp_path: Path) -> None:
    packets = inband_packets("4321#5678*0")
    _well_timed(packets)
    assert {p.payload_type for p in packets} == {PCMU}
    assert keys_heard(packets) == "4321#5678*0"
    assert keys_heard(inband_packets("55,5")) == "555"  # the same key twice, apart
    assert read_pcap(write_pcap(tmp_path / "inband.pcap", packets)) == packets
    assert duration_ms(packets) == 500 + 11 * 200 + 300


def test_rfc4733_stream_follows_the_rfc(tmp_path: Path) -> None:
    packets = rfc4733_packets("4321#5678#")
    _well_timed(packets)
    assert events_sent(packets) == "4321#5678#" and keys_heard(packets) == ""
    events = [p for p in packets if p.payload_type == TELEPHONE_EVENT]
    starts = sorted({p.timestamp for p in events})
    assert len(starts) == 10
    for start, key in zip(starts, "4321#5678#", strict=True):
        one = [p for p in events if p.timestamp == start]
        codes = {p.payload[0] for p in one}
        assert codes == {EVENT_CODES[key]}
        assert [p.marker for p in one] == [True] + [False] * (len(one) - 1)
        durations = [int.from_bytes(p.payload[2:4], "big") for p in one]
        ends = [bool(p.payload[1] & 0x80) for p in one]
        # 100 ms: five packets of growing duration, the last one (E bit) three times.
        assert durations == [160, 320, 480, 640, 800, 800, 800]
        assert ends == [False] * 4 + [True] * 3
        assert {p.payload[1] & 0x3F for p in one} == {10}  # -10 dBm0
        # The event starts where the audio stopped.
        before = [p for p in packets if p.at < one[0].at and p.payload_type == PCMU][-1]
        assert start == before.timestamp + SAMPLES
    assert read_pcap(write_pcap(tmp_path / "rfc4733.pcap", packets)) == packets
