"""Real SIP calls with sipp (Debian's sip-tester), using the scenarios in tests/sipp/."""

from __future__ import annotations

import asyncio
import itertools
import shutil
from dataclasses import dataclass
from pathlib import Path

from telephony.ami import AmiClient
from telephony.errors import PbxActionFailed
from tests.ports import SIPP_CALLS

SCENARIOS = Path(__file__).resolve().parents[1] / "sipp"
HOST = "127.0.0.1"
_ports = itertools.count(0)


@dataclass
class SippResult:
    returncode: int
    log: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def sipp_binary() -> str:
    path = shutil.which("sipp")
    if path is None:
        raise RuntimeError("sipp is missing: ./dev test installs it (Debian package sip-tester)")
    return path


class Sipp:
    """Places calls into one Asterisk; each call gets its own local SIP/RTP ports."""

    def __init__(self, sip_port: int, base_port: int, logs: Path) -> None:
        self.sip_port = sip_port
        self.base_port = base_port
        self.logs = logs

    def _local_ports(self) -> tuple[int, int]:
        n = next(_ports) % SIPP_CALLS
        return self.base_port + n * 10, self.base_port + n * 10 + 4

    async def call(
        self,
        service: str,
        *,
        dtmf: str = "",
        caller: str = "alice",
        password: str | None = "alice-password-1",
        hold_ms: int = 0,
        wait_for_hangup: bool = False,
        local_ip: str = HOST,
        refused: str | None = None,
        tag: str = "call",
    ) -> SippResult:
        """One call. ``refused="404"`` expects the call to be turned away before answer."""
        sip, media = self._local_ports()
        log_file = self.logs / f"{tag}-{sip}.log"
        err_file = self.logs / f"{tag}-{sip}.err"
        scenario = "refused.xml" if refused is not None else "call.xml"
        argv = [
            sipp_binary(), "-sf", str(SCENARIOS / scenario), f"{HOST}:{self.sip_port}",
            "-s", service, "-i", local_ip, "-bind_local", "-p", str(sip), "-mp", str(media),
            "-m", "1", "-l", "1", "-nostdin", "-timeout", "60", "-recv_timeout", "30000",
            "-set", "caller", caller,
            "-trace_logs", "-log_file", str(log_file), "-trace_err", "-error_file", str(err_file),
        ]  # fmt: skip
        if refused is not None:
            if refused:
                argv += ["-set", "expect", refused]
        else:
            argv += ["-set", "dtmf", dtmf, "-set", "mode", "wait" if wait_for_hangup else "hold",
                     "-d", str(hold_ms)]  # fmt: skip
        if password is not None:
            argv += ["-au", caller, "-ap", password,
                     "-auth_uri", f"sip:{service}@{HOST}:{self.sip_port}"]  # fmt: skip
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=self.logs,
        )
        try:
            code = await proc.wait()
        except asyncio.CancelledError:
            proc.kill()
            await proc.wait()
            raise
        text = "".join(f.read_text(errors="replace") for f in (log_file, err_file) if f.exists())
        return SippResult(code, text)

    async def call_pcap(
        self,
        service: str,
        pcap: Path,
        *,
        telephone_event: bool,
        caller: str = "alice",
        password: str | None = "alice-password-1",
        hold_ms: int = 0,
        wait_for_hangup: bool = False,
        local_ip: str = HOST,
        tag: str = "pcap",
    ) -> SippResult:
        """One call that plays the RTP stream of ``pcap`` (tests/sipp/call_pcap.xml), for keys
        sent in the media. ``telephone_event`` offers PCMU and telephone-event/8000 (payload
        101: RFC 4733 digits); without it only PCMU (in-band tones). ``hold_ms`` counts from
        the end of the stream. sipp plays pcaps through a raw socket: root only."""
        from tests.telephony.dtmf_audio import duration_ms, read_pcap

        sip, media = self._local_ports()
        work = self.logs / f"{tag}-{sip}"
        work.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pcap, work / "keys.pcap")
        log_file, err_file, stderr_file = work / "sipp.log", work / "sipp.err", work / "stderr"
        if telephone_event:
            sdp = ["0 101", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16"]
        else:
            sdp = ["0", "a=maxptime:20", "a=silenceSupp:off - - - -"]
        argv = [
            sipp_binary(), "-sf", str(SCENARIOS / "call_pcap.xml"), f"{HOST}:{self.sip_port}",
            "-s", service, "-i", local_ip, "-bind_local", "-p", str(sip), "-mp", str(media),
            "-m", "1", "-l", "1", "-nostdin", "-timeout", "60", "-recv_timeout", "30000",
            "-set", "caller", caller, "-set", "formats", sdp[0],
            "-set", "sdp_line1", sdp[1], "-set", "sdp_line2", sdp[2],
            "-set", "mode", "wait" if wait_for_hangup else "hold",
            "-d", str(duration_ms(read_pcap(pcap)) + hold_ms),
            "-trace_logs", "-log_file", str(log_file), "-trace_err", "-error_file", str(err_file),
        ]  # fmt: skip
        if password is not None:
            argv += ["-au", caller, "-ap", password,
                     "-auth_uri", f"sip:{service}@{HOST}:{self.sip_port}"]  # fmt: skip
        with stderr_file.open("wb") as stderr:  # pcap loading and raw-socket errors
            proc = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.DEVNULL, stderr=stderr, cwd=work
            )
            try:
                code = await proc.wait()
            except asyncio.CancelledError:
                proc.kill()
                await proc.wait()
                raise
        files = (log_file, err_file, stderr_file)
        text = "".join(f.read_text(errors="replace") for f in files if f.exists())
        return SippResult(code, text)


# A test's go-ahead to a caller waiting at "!" in its keys (tests/sipp/call.xml): an
# in-dialog NOTIFY. res_pjsip_notify is not among the product's modules; tests load it.
GO_AHEAD_MODULE = "res_pjsip_notify.so"
GO_AHEAD = "conference-test-go"


async def allow_go_ahead(ami: AmiClient, etc_dir: Path) -> None:
    """Load the NOTIFY module into the test's Asterisk (whose configuration is in
    ``etc_dir``), unless an earlier test did. It declines to load without its
    configuration file: it holds the one NOTIFY sent, :data:`GO_AHEAD`."""
    try:
        await ami.action({"Action": "ModuleCheck", "Module": GO_AHEAD_MODULE})
    except PbxActionFailed:  # not loaded
        conf = etc_dir / "pjsip_notify.conf"
        if not conf.exists():
            conf.write_text(f"[{GO_AHEAD}]\nEvent => {GO_AHEAD}\n")
            conf.chmod(0o644)
        await ami.action({"Action": "ModuleLoad", "Module": GO_AHEAD_MODULE, "LoadType": "load"})


async def go_ahead(ami: AmiClient, channel: str) -> None:
    """Let the caller on ``channel`` (waiting at "!") send its next keys."""
    await ami.action({"Action": "PJSIPNotify", "Channel": channel, "Option": GO_AHEAD})
