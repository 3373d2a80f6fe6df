"""A sipp caller whose media is handled here: sipp does the SIP side (tests/sipp/call.xml,
DTMF by SIP INFO, with the SDP's media port pointed at this module's socket), and a Python
RTP peer sends a 440 Hz PCMU tone to the port the PBX answered with and counts what the room
sends back: packets, and loud packets (mean |sample| above a threshold, so silence and
comfort noise do not count). That is how a test proves a browser's sound reached a phone."""

from __future__ import annotations

import asyncio
import math
import os
import socket
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

from tests.pbx_fixtures import Pbx, eventually, free_port
from tests.telephony.sipp import HOST, SCENARIOS, sipp_binary

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

_TONE = b"".join(
    struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * n / 8000))) for n in range(8000)
)
LOUD = 300  # mean |sample| of 16-bit linear; silence and comfort noise stay far below
_DIALOG_TO = '<ereg regexp=".*" search_in="hdr" header="To:" assign_to="dialog_to" />'


def listener_scenario(out: Path) -> Path:
    """tests/sipp/call.xml with its SDP port taken from ``-set rtpport`` and the PBX's
    answered media port written to ``-set portfile``."""
    xml = (SCENARIOS / "call.xml").read_text(encoding="latin-1")
    edits = [
        ('<Global variables="caller,dtmf,mode" />',
         '<Global variables="caller,dtmf,mode,rtpport,portfile" />', 1),
        ("m=audio [media_port] RTP/AVP 0 101", "m=audio [$rtpport] RTP/AVP 0 101", 2),
        (_DIALOG_TO, _DIALOG_TO + '<ereg regexp="m=audio ([0-9]+)" search_in="body" '
         'check_it="true" assign_to="m_line,rport" />'
         '<exec command="echo [$rport] &gt; [$portfile]" />', 2),
    ]  # fmt: skip
    for old, new, count in edits:
        assert xml.count(old) == count, f"tests/sipp/call.xml changed: {old!r}"
        xml = xml.replace(old, new)
    path = out / "listener.xml"
    path.write_text(xml, encoding="latin-1")
    return path


class RtpPeer(asyncio.DatagramProtocol):
    def __init__(self, port_file: Path) -> None:
        self.port_file = port_file
        self.received = 0
        self.loud = 0
        self.transport: asyncio.DatagramTransport | None = None
        self._task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) <= 12 or data[1] & 0x7F != 0:  # PCMU only (not telephone-event)
            return
        self.received += 1
        linear = audioop.ulaw2lin(data[12:], 2)
        mean_abs = sum(abs(s) for (s,) in struct.iter_unpack("<h", linear)) / (len(linear) // 2)
        if mean_abs > LOUD:
            self.loud += 1

    def _answered(self) -> bool:
        return self.port_file.exists() and bool(self.port_file.read_text().strip())

    async def _send_tone(self) -> None:
        await eventually(self._answered, timeout=60, what="the PBX's answer (its media port)")
        dest = (HOST, int(self.port_file.read_text().strip()))
        ssrc = int.from_bytes(os.urandom(4), "big")
        seq, ts, offset = 0, 0, 0
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while self.transport is not None and not self.transport.is_closing():
            chunk = _TONE[offset : offset + 320]
            offset = (offset + 320) % len(_TONE)
            header = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
            self.transport.sendto(header + audioop.lin2ulaw(chunk, 2), dest)
            seq, ts = seq + 1, ts + 160
            next_at += 0.02
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.transport is not None:
            self.transport.close()


@dataclass
class Listener:
    peer: RtpPeer
    proc: asyncio.subprocess.Process

    async def stop(self) -> None:
        self.peer.close()
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()


async def listener(pbx: Pbx, out: Path, dtmf: str, *, tag: str = "listener") -> Listener:
    """A phone (alice) that dials the conference extension, keys ``dtmf`` and stays (until
    the PBX hangs up or :meth:`Listener.stop`), its RTP handled by an :class:`RtpPeer`."""
    rtp = free_port(socket.SOCK_DGRAM)
    port_file = out / f"{tag}.rport"
    port_file.unlink(missing_ok=True)
    loop = asyncio.get_running_loop()
    _, peer = await loop.create_datagram_endpoint(lambda: RtpPeer(port_file),
                                                  local_addr=(HOST, rtp))  # fmt: skip
    peer._task = loop.create_task(peer._send_tone())
    sip, media = pbx.sipp._local_ports()
    extension = "800"
    argv = [
        sipp_binary(), "-sf", str(listener_scenario(out)), f"{HOST}:{pbx.cfg.sip_port}",
        "-s", extension, "-i", HOST, "-bind_local", "-p", str(sip), "-mp", str(media),
        "-m", "1", "-l", "1", "-nostdin", "-timeout", "120", "-recv_timeout", "120000",
        "-set", "caller", "alice", "-set", "dtmf", dtmf, "-set", "mode", "wait",
        "-set", "rtpport", str(rtp), "-set", "portfile", str(port_file),
        "-au", "alice", "-ap", "alice-password-1",
        "-auth_uri", f"sip:{extension}@{HOST}:{pbx.cfg.sip_port}",
        "-trace_err", "-error_file", str(out / f"{tag}.err"),
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, cwd=out
    )
    return Listener(peer, proc)
