"""Keypad digits as a phone or a carrier sends them in the media, written as pcap files that
sipp's ``play_pcap_audio`` replays (tests/sipp/call_pcap.xml). Pure Python, no dependencies.

Two kinds of RTP stream, both G.711 mu-law (payload type 0) in 20 ms packets from one SSRC,
with sequence numbers and timestamps that run on across digits:

- :func:`inband_packets`: the digits as real dual-tone audio (ITU-T Q.23 frequencies; by
  default 100 ms of tone and 100 ms of silence per digit, each tone at -10 dBm0), after half a
  second of silence. Only a receiver that listens to the audio hears them.
- :func:`rfc4733_packets`: the same timing, but each digit is an RFC 4733 telephone-event
  (payload type 101): all packets of an event carry the event's start timestamp, the first has
  the marker bit, the duration grows by 160 per packet, the last has the E bit and is sent three
  times; mu-law silence fills the time between events.

In ``keys``, ``,`` is one second of silence (as in tests/sipp/call.xml). :func:`write_pcap`
frames each RTP packet in Ethernet/IPv4/UDP with the packet's send time; sipp 3.6.1 reads
Ethernet (or Linux cooked) captures, keeps each UDP header and payload, rewrites the ports (to
its ``-mp`` port and the media port in the answer's SDP) and the checksum, and sends them
through a raw socket (so root only) with the capture's gaps. The capture's addresses are never
used. :func:`keys_heard` and :func:`events_sent` decode a stream again, to check the generator
itself.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

RATE = 8000
PTIME_MS = 20
SAMPLES = RATE * PTIME_MS // 1000  # per packet
PCMU = 0
TELEPHONE_EVENT = 101
SSRC = 0x5EED1234

# ITU-T Q.23: (low group, high group) in Hz.
LOW = (697, 770, 852, 941)
HIGH = (1209, 1336, 1477, 1633)
KEYPAD = ("123A", "456B", "789C", "*0#D")
TONES: dict[str, tuple[int, int]] = {
    key: (LOW[row], HIGH[col]) for row, keys in enumerate(KEYPAD) for col, key in enumerate(keys)
}
# RFC 4733 section 3.2: event codes of the keypad.
EVENT_CODES: dict[str, int] = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
EVENT_CODES.update({k: 12 + i for i, k in enumerate("ABCD")})
EVENT_KEYS = {code: key for key, code in EVENT_CODES.items()}

# G.711: a full-scale sine is +3.17 dBm0; 16-bit samples clip at 32635 before encoding.
_FULL_SCALE = 32635
_BIAS = 0x84


def ulaw_encode(sample: int) -> int:
    """One 16-bit linear sample as a G.711 mu-law byte."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), _FULL_SCALE) + _BIAS
    exponent = (magnitude >> 7).bit_length() - 1
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | exponent << 4 | mantissa) & 0xFF


def ulaw_decode(byte: int) -> int:
    """One G.711 mu-law byte as a 16-bit linear sample."""
    byte = ~byte & 0xFF
    exponent = (byte >> 4) & 0x07
    magnitude = ((((byte & 0x0F) << 3) + _BIAS) << exponent) - _BIAS
    return -magnitude if byte & 0x80 else magnitude


SILENCE = bytes([ulaw_encode(0)]) * SAMPLES


def tone_amplitude(level_dbm0: float) -> float:
    """Peak amplitude (16-bit linear) of a sine at ``level_dbm0``."""
    return _FULL_SCALE * 10 ** ((level_dbm0 - 3.17) / 20)


@dataclass(frozen=True)
class RtpPacket:
    at: float  # send time, seconds from the start of the stream
    payload_type: int
    marker: bool
    seq: int
    timestamp: int
    payload: bytes

    def to_bytes(self) -> bytes:
        """RFC 3550 header (version 2, no padding, extension or CSRC) and payload."""
        second = (0x80 if self.marker else 0) | self.payload_type
        head = struct.pack("!BBHII", 0x80, second, self.seq & 0xFFFF,
                           self.timestamp & 0xFFFFFFFF, SSRC)  # fmt: skip
        return head + self.payload

    @classmethod
    def parse(cls, data: bytes, at: float = 0.0) -> RtpPacket:
        first, second, seq, timestamp, _ssrc = struct.unpack("!BBHII", data[:12])
        if first >> 6 != 2:
            raise ValueError("not an RTP version 2 packet")
        return cls(at, second & 0x7F, bool(second & 0x80), seq, timestamp, data[12:])


class _Stream:
    """One RTP stream on a 20 ms clock: packet n leaves at n * 20 ms with timestamp n * 160."""

    def __init__(self, first_seq: int = 1000, first_timestamp: int = 160_000) -> None:
        self.packets: list[RtpPacket] = []
        self.tick = 0
        self.seq = first_seq
        self.ts0 = first_timestamp

    @property
    def timestamp(self) -> int:
        return self.ts0 + self.tick * SAMPLES

    def send(self, payload_type: int, payload: bytes, *, marker: bool = False,
             timestamp: int | None = None) -> None:  # fmt: skip
        ts = self.timestamp if timestamp is None else timestamp
        at = self.tick * PTIME_MS / 1000
        self.packets.append(RtpPacket(at, payload_type, marker, self.seq, ts, payload))
        self.seq = (self.seq + 1) & 0xFFFF
        self.tick += 1

    def silence(self, ms: int) -> None:
        for _ in range(_ticks(ms)):
            self.send(PCMU, SILENCE, marker=not self.packets)


def _ticks(ms: int) -> int:
    if ms < 0 or ms % PTIME_MS:
        raise ValueError(f"durations must be multiples of {PTIME_MS} ms, got {ms}")
    return ms // PTIME_MS


def _check_keys(keys: str) -> None:
    bad = sorted({k for k in keys if k != "," and k not in TONES})
    if bad:
        raise ValueError(f"not keypad keys: {bad}")


def dual_tone(key: str, n: int, start: int = 0, level_dbm0: float = -10.0) -> list[int]:
    """Samples ``start`` .. ``start + n`` of ``key``'s two tones, each at ``level_dbm0``."""
    low, high = TONES[key]
    amp, w_low, w_high = tone_amplitude(level_dbm0), 2 * math.pi * low, 2 * math.pi * high
    return [
        round(amp * (math.sin(w_low * t / RATE) + math.sin(w_high * t / RATE)))
        for t in range(start, start + n)
    ]


def inband_packets(keys: str, *, tone_ms: int = 100, gap_ms: int = 100, lead_ms: int = 500,
                   tail_ms: int = 300, level_dbm0: float = -10.0) -> list[RtpPacket]:  # fmt: skip
    """``keys`` as dual-tone audio in mu-law packets (see the module's description)."""
    _check_keys(keys)
    stream = _Stream()
    stream.silence(lead_ms)
    for key in keys:
        if key == ",":
            stream.silence(1000)
            continue
        for i in range(_ticks(tone_ms)):
            samples = dual_tone(key, SAMPLES, i * SAMPLES, level_dbm0)
            stream.send(PCMU, bytes(ulaw_encode(s) for s in samples))
        stream.silence(gap_ms)
    stream.silence(tail_ms)
    return stream.packets


def _event(code: int, end: bool, volume: int, duration: int) -> bytes:
    # RFC 4733 section 2.3: event, E|R|volume, duration (in timestamp units).
    return struct.pack("!BBH", code, (0x80 if end else 0) | volume, duration)


def rfc4733_packets(keys: str, *, tone_ms: int = 100, gap_ms: int = 100, lead_ms: int = 500,
                    tail_ms: int = 300, volume: int = 10,
                    payload_type: int = TELEPHONE_EVENT) -> list[RtpPacket]:  # fmt: skip
    """``keys`` as RFC 4733 telephone-events between mu-law silence (see the module's
    description). ``volume`` is the tone's power in -dBm0 (10: -10 dBm0)."""
    _check_keys(keys)
    if _ticks(gap_ms) < 2:
        raise ValueError("the gap must hold the two repeated end packets (at least 40 ms)")
    stream = _Stream()
    stream.silence(lead_ms)
    for key in keys:
        if key == ",":
            stream.silence(1000)
            continue
        code, start = EVENT_CODES[key], stream.timestamp
        n = _ticks(tone_ms)
        for i in range(1, n + 1):
            payload = _event(code, i == n, volume, i * SAMPLES)
            stream.send(payload_type, payload, marker=i == 1, timestamp=start)
        for _ in range(2):  # the end packet, sent three times in all (section 2.5.1.4)
            stream.send(payload_type, payload, timestamp=start)
        stream.silence(gap_ms - 2 * PTIME_MS)
    stream.silence(tail_ms)
    return stream.packets


# --- pcap -------------------------------------------------------------------------------

_LINKTYPE_ETHERNET = 1
_EPOCH = 1_700_000_000  # the capture's start time; sipp uses only the gaps


def _ip_checksum(header: bytes) -> int:
    total: int = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _frame(rtp: bytes, ident: int, src: tuple[str, int], dst: tuple[str, int]) -> bytes:
    udp_len = 8 + len(rtp)
    src_ip = bytes(int(x) for x in src[0].split("."))
    dst_ip = bytes(int(x) for x in dst[0].split("."))
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, ident & 0xFFFF, 0x4000, 64, 17, 0,
                     src_ip, dst_ip)  # fmt: skip
    ip = ip[:10] + struct.pack("!H", _ip_checksum(ip)) + ip[12:]
    udp = struct.pack("!HHHH", src[1], dst[1], udp_len, 0)  # checksum 0: sipp computes its own
    ether = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    return ether + ip + udp + rtp


def write_pcap(path: Path, packets: Iterable[RtpPacket], *,
               src: tuple[str, int] = ("127.0.0.1", 16000),
               dst: tuple[str, int] = ("127.0.0.1", 16002)) -> Path:  # fmt: skip
    """A classic pcap (microsecond timestamps, Ethernet) of ``packets``, one UDP datagram
    each, timed by ``RtpPacket.at``."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, _LINKTYPE_ETHERNET)]
    for i, packet in enumerate(packets):
        frame = _frame(packet.to_bytes(), i, src, dst)
        usec = round(packet.at * 1_000_000)
        out.append(struct.pack("<IIII", _EPOCH + usec // 1_000_000, usec % 1_000_000,
                               len(frame), len(frame)))  # fmt: skip
        out.append(frame)
    path.write_bytes(b"".join(out))
    return path


def read_pcap(path: Path) -> list[RtpPacket]:
    """The RTP packets of a capture written by :func:`write_pcap` (Ethernet, IPv4, UDP)."""
    data = path.read_bytes()
    magic, _major, _minor, _zone, _sigfigs, _snap, link = struct.unpack("<IHHiIII", data[:24])
    if magic != 0xA1B2C3D4 or link != _LINKTYPE_ETHERNET:
        raise ValueError(f"{path}: not a microsecond Ethernet pcap")
    packets: list[RtpPacket] = []
    offset, first = 24, None
    while offset < len(data):
        sec, usec, incl, orig = struct.unpack("<IIII", data[offset : offset + 16])
        frame = data[offset + 16 : offset + 16 + incl]
        offset += 16 + incl
        if incl != orig or frame[12:14] != b"\x08\x00" or frame[23] != 17:
            raise ValueError(f"{path}: a frame that is not a whole IPv4/UDP packet")
        ihl = (frame[14] & 0x0F) * 4
        udp_len = struct.unpack("!H", frame[14 + ihl + 4 : 14 + ihl + 6])[0]
        rtp = frame[14 + ihl + 8 : 14 + ihl + udp_len]
        at = sec + usec / 1_000_000
        first = at if first is None else first
        packets.append(RtpPacket.parse(rtp, round(at - first, 6)))
    return packets


def duration_ms(packets: Sequence[RtpPacket]) -> int:
    """How long the stream takes to send: the last packet's time plus one packet."""
    return round(packets[-1].at * 1000) + PTIME_MS if packets else 0


# --- decoding, to check the generator ----------------------------------------------------


def _power(samples: Sequence[int], freq: float) -> float:
    """Goertzel: the power of ``freq`` in ``samples``."""
    coeff = 2 * math.cos(2 * math.pi * freq / RATE)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


def _key_of(samples: Sequence[int]) -> str | None:
    energy = sum(x * x for x in samples) * len(samples) / 2
    if energy < 1e9:  # well under -40 dBm0: silence
        return None
    lows = [_power(samples, f) for f in LOW]
    highs = [_power(samples, f) for f in HIGH]
    low, high = max(range(4), key=lows.__getitem__), max(range(4), key=highs.__getitem__)
    # Both tones present and carrying most of the block's energy.
    if lows[low] + highs[high] < 0.8 * energy or min(lows[low], highs[high]) < 0.2 * energy:
        return None
    return KEYPAD[low][high]


def keys_heard(packets: Iterable[RtpPacket]) -> str:
    """The keys a tone detector hears in the mu-law packets of a stream, in order."""
    heard, previous = [], None
    for packet in packets:
        if packet.payload_type != PCMU:
            continue
        key = _key_of([ulaw_decode(b) for b in packet.payload])
        if key is not None and key != previous:
            heard.append(key)
        previous = key
    return "".join(heard)


def events_sent(packets: Iterable[RtpPacket]) -> str:
    """The keys of the RFC 4733 events of a stream (one per event start timestamp)."""
    keys: dict[int, str] = {}
    for packet in packets:
        if packet.payload_type == TELEPHONE_EVENT:
            keys.setdefault(packet.timestamp, EVENT_KEYS[packet.payload[0]])
    return "".join(keys[ts] for ts in sorted(keys))
