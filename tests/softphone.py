"""A real SIP softphone for the tests: Debian's ``baresip`` (package ``baresip-core``).

Each :class:`Softphone` runs one baresip in a private config dir (``-f DIR``, its own
``config`` and ``accounts``), bound to a loopback address only, with no sound card: it
sends a sine tone (``ausine``) or a WAV file (``aufile``), plays into a device that needs no
hardware (``aubridge`` with no source attached) and records what it hears with the
``sndfile`` filter (``DIR/rec/dump-<time>-dec.wav``; what it sent is ``...-enc.wav``).

It is driven through baresip's ``ctrl_tcp`` module on a loopback port: netstrings holding
JSON commands (``{"command": "dial", "params": "sip:800@...", "token": "7"}``), answered by
``{"response": true, "ok": ..., "data": ..., "token": "7"}``; the same connection carries
baresip's events (``CALL_ESTABLISHED``, ``CALL_CLOSED``...), which are kept with the time
they arrived. Keypad digits go out with ``sndcode``, one digit per command: baresip sends
them as RFC 4733 telephone-events (a press and its release per command; several digits in
one command would be sent as presses without releases).

Transport (``udp``/``tcp``/``tls``) and media encryption (``None``, ``"srtp"`` for SDES
offered optimistically, ``"srtp-mand"`` for SDES required) are parameters; for TLS,
``cafile`` is the CA baresip trusts (``sip_cafile``) and ``certificate`` its own client
certificate and key in one PEM (``sip_certificate``).

Baresip 1.0 opens UDP, TCP and TLS listeners on ports of its own choice (``sip_listen
127.0.0.1:0``); its DNS client sockets are bound to the wildcard address but only ever
talk to ``dns_server`` (set to loopback; every URI here is an IP literal, so it never
resolves anything).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tests.ports import LISTEN_PORTS

Transport = Literal["udp", "tcp", "tls"]
MediaEnc = Literal["srtp", "srtp-mand"]

MODULE_DIR = Path("/usr/lib/baresip/modules")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_tokens = itertools.count(1)


def baresip_binary() -> str:
    path = shutil.which("baresip")
    if path is None:
        raise RuntimeError(
            "baresip is missing: ./dev test installs it (Debian package baresip-core)"
        )
    return path


class SoftphoneError(AssertionError):
    """The softphone did not do what a test asked (the message carries its log's tail)."""


@dataclass
class Event:
    """One baresip event as ctrl_tcp reported it, with the loop time it arrived."""

    type: str
    at: float
    body: dict[str, Any] = field(repr=False)

    @property
    def param(self) -> str:
        return str(self.body.get("param", ""))


def _free_tcp_port(host: str) -> int:
    for _ in range(200):
        port = random.choice(LISTEN_PORTS)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


class Softphone:
    """One baresip user agent registering ``user`` at ``server_host:server_port``.

    ``tone_hz`` (10-20000) makes it send a sine tone, ``source_wav`` a 16-bit WAV file
    instead (any rate, mono or stereo); baresip hangs up when the file ends, so make it
    longer than the call.  Use as ``async with Softphone(...) as phone``,
    or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        user: str,
        password: str,
        server_port: int,
        server_host: str = "127.0.0.1",
        transport: Transport = "udp",
        mediaenc: MediaEnc | None = None,
        cafile: Path | None = None,
        certificate: Path | None = None,
        tone_hz: int | None = 440,
        source_wav: Path | None = None,
        local_ip: str = "127.0.0.1",
        register: bool = True,
    ) -> None:
        if not local_ip.startswith("127.") or not server_host.startswith("127."):
            raise ValueError("softphones in the tests use loopback addresses only")
        self.dir = Path(workdir)
        self.user = user
        self.password = password
        self.server = f"{server_host}:{server_port}"
        self.transport: Transport = transport
        self.mediaenc = mediaenc
        self.cafile = cafile
        self.certificate = certificate
        self.tone_hz = tone_hz
        self.source_wav = source_wav
        self.local_ip = local_ip
        self.register = register
        self.ctrl_port = 0
        self.events: list[Event] = []
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._changed = asyncio.Event()

    # -- files ---------------------------------------------------------------------------

    @property
    def rec_dir(self) -> Path:
        return self.dir / "rec"

    @property
    def log_file(self) -> Path:
        return self.dir / "baresip.log"

    def log(self) -> str:
        try:
            return _ANSI.sub("", self.log_file.read_text(errors="replace"))
        except FileNotFoundError:
            return ""

    def _log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def uri(self, extension: str) -> str:
        """The SIP URI of ``extension`` on the server.  Baresip appends the account URI's
        parameters (``;transport=...``) to whatever it dials, so none are given here."""
        return f"sip:{extension}@{self.server}"

    def account_line(self) -> str:
        params = [f"auth_pass={self.password}", "answermode=manual",
                  f"regint={600 if self.register else 0}"]  # fmt: skip
        if self.mediaenc:
            params.append(f"mediaenc={self.mediaenc}")
        return f"<sip:{self.user}@{self.server};transport={self.transport}>;" + ";".join(params)

    def config_text(self) -> str:
        if self.source_wav is not None:
            with wave.open(str(self.source_wav), "rb") as w:
                rate, channels = w.getframerate(), w.getnchannels()
            source = f"aufile,{self.source_wav}"
        else:
            if self.tone_hz is None or not 10 <= self.tone_hz <= 20000:
                raise ValueError("tone_hz must be 10-20000 Hz (or give source_wav)")
            rate, channels = 48000, 2  # all ausine supports
            source = f"ausine,{self.tone_hz}"
        lines = [
            "poll_method epoll",
            f"sip_listen {self.local_ip}:0",
            f"net_interface {self.local_ip}",
            "dns_server 127.0.0.1:53",
            "call_local_timeout 30",
            "call_max_calls 2",
            f"audio_source {source}",
            "audio_player aubridge,nowhere",
            "audio_alert aubridge,nowhere",
            f"ausrc_srate {rate}",
            f"ausrc_channels {channels}",
            "audio_level no",
            "ausrc_format s16",
            "auplay_format s16",
            "auenc_format s16",
            "audec_format s16",
            "audio_buffer 20-160",
            "rtp_tos 0",
            "rtcp_mux no",
            "jitter_buffer_delay 5-10",
            "rtp_stats no",
            f"module_path {MODULE_DIR}",
            "module g711.so",
            "module aubridge.so",
            "module ausine.so",
            "module aufile.so",
            "module sndfile.so",
            "module srtp.so",
            "module_tmp account.so",
            "module_app menu.so",
            "module_app ctrl_tcp.so",
            f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
            "statmode_default off",
            "ringback_disabled yes",
            f"snd_path {self.rec_dir}",
        ]
        if self.cafile is not None:
            lines.append(f"sip_cafile {self.cafile}")
        if self.certificate is not None:
            lines.append(f"sip_certificate {self.certificate}")
        return "\n".join(lines) + "\n"

    # -- life cycle ----------------------------------------------------------------------

    async def start(self, timeout: float = 10.0) -> None:
        """Start baresip and connect to its control port; with ``register``, wait until
        the server accepted its REGISTER."""
        self.rec_dir.mkdir(parents=True, exist_ok=True)
        self.ctrl_port = _free_tcp_port("127.0.0.1")
        (self.dir / "config").write_text(self.config_text())
        (self.dir / "accounts").write_text(self.account_line() + "\n")
        (self.dir / "accounts").chmod(0o600)
        (self.dir / "contacts").write_text("")
        with self.log_file.open("wb") as log:
            self._proc = await asyncio.create_subprocess_exec(
                baresip_binary(), "-f", str(self.dir), "-v",
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.dir, start_new_session=True,
            )  # fmt: skip
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        listening = f"ctrl_tcp: TCP socket listening on 127.0.0.1:{self.ctrl_port}"
        while True:
            if self._proc.returncode is not None:
                raise SoftphoneError(
                    f"baresip exited ({self._proc.returncode}):\n{self._log_tail()}"
                )
            # Connect only once this baresip says it listens there (the port was free when
            # chosen; if something else took it since, this baresip never says so).
            if listening in self.log():
                with contextlib.suppress(OSError):
                    self._reader, self._writer = await asyncio.open_connection(
                        "127.0.0.1", self.ctrl_port
                    )
                    break
            if loop.time() > deadline:
                raise SoftphoneError(f"baresip's control port never opened:\n{self._log_tail()}")
            await asyncio.sleep(0.05)
        self._read_task = asyncio.create_task(self._read_loop())
        if self.register:
            await self.wait_registered(deadline - loop.time())

    async def stop(self) -> None:
        """Quit baresip (it unregisters), then make sure its process group is gone."""
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None and self._writer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.command("quit"), 1.0)
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        if self._read_task is not None:
            self._read_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._read_task
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 2.0)
        # Whatever is left of its process group (baresip forks nothing, but be sure).
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 2.0)
                break
        await proc.wait()
        self._proc = None

    async def __aenter__(self) -> Softphone:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- control -------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        assert self._reader is not None
        loop = asyncio.get_running_loop()
        try:
            while True:
                size = await self._reader.readuntil(b":")
                body = await self._reader.readexactly(int(size[:-1]) + 1)
                msg = json.loads(body[:-1])
                if msg.get("response"):
                    fut = self._pending.pop(str(msg.get("token", "")), None)
                    if fut is not None and not fut.done():
                        fut.set_result(msg)
                elif msg.get("event"):
                    self.events.append(Event(str(msg.get("type", "")), loop.time(), msg))
                    self._changed.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(SoftphoneError("baresip closed its control connection"))
            self._changed.set()

    async def command(self, name: str, params: str = "", timeout: float = 5.0) -> str:
        """Run one baresip command; returns its text output, raises if it failed."""
        if self._writer is None:
            raise SoftphoneError("softphone not started")
        token = str(next(_tokens))
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[token] = fut
        body = json.dumps({"command": name, "params": params, "token": token}).encode()
        self._writer.write(b"%d:%s," % (len(body), body))
        await self._writer.drain()
        try:
            reply = await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(token, None)
        data = _ANSI.sub("", str(reply.get("data", "")))
        if not reply.get("ok"):
            raise SoftphoneError(f"baresip {name} {params!r} failed: {data}\n{self._log_tail()}")
        return data

    async def wait_registered(self, timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            info = await self.command("reginfo")
            if re.search(r"\sOK\s", info):
                return
            if loop.time() > deadline:
                raise SoftphoneError(f"{self.user} did not register: {info}\n{self._log_tail()}")
            await asyncio.sleep(0.1)

    async def wait_event(self, *types: str, timeout: float = 10.0, since: int = 0) -> Event:
        """The first event of one of ``types`` at index ``since`` or later in
        :attr:`events`, waiting up to ``timeout`` seconds for it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for event in self.events[since:]:
                if event.type in types:
                    return event
            left = deadline - loop.time()
            if left <= 0:
                seen = [e.type for e in self.events[since:]]
                raise SoftphoneError(f"no {'/'.join(types)} (saw {seen})\n{self._log_tail()}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def dial(self, extension: str, timeout: float = 10.0) -> Event:
        """Call ``extension`` on the server; returns ``CALL_ESTABLISHED`` once answered,
        raises :class:`SoftphoneError` (with the reason baresip gives) if the call ends
        first."""
        since = len(self.events)
        await self.command("dial", self.uri(extension))
        event = await self.wait_event("CALL_ESTABLISHED", "CALL_CLOSED", timeout=timeout,
                                      since=since)  # fmt: skip
        if event.type == "CALL_CLOSED":
            raise SoftphoneError(f"call refused: {event.param}\n{self._log_tail()}")
        return event

    async def call_refused(self, extension: str, timeout: float = 10.0) -> str:
        """Call ``extension`` expecting no answer; returns baresip's reason
        (e.g. ``"488 Not Acceptable Here"``)."""
        since = len(self.events)
        await self.command("dial", self.uri(extension))
        event = await self.wait_event("CALL_ESTABLISHED", "CALL_CLOSED", timeout=timeout,
                                      since=since)  # fmt: skip
        if event.type == "CALL_ESTABLISHED":
            raise SoftphoneError(f"the call was answered\n{self._log_tail()}")
        return event.param

    async def send_digits(self, digits: str, gap: float = 0.25) -> None:
        """Key ``digits`` as RFC 4733 telephone-events, ``gap`` seconds apart."""
        for digit in digits:
            if digit not in "0123456789*#ABCD":
                raise ValueError(f"not a keypad digit: {digit!r}")
            await self.command("sndcode", digit)
            await asyncio.sleep(gap)

    async def hangup(self, timeout: float = 5.0) -> None:
        since = len(self.events)
        await self.command("hangup")
        await self.wait_event("CALL_CLOSED", timeout=timeout, since=since)

    async def wait_closed(self, timeout: float = 10.0, since: int = 0) -> Event:
        """The call ended (by the server or by this phone)."""
        return await self.wait_event("CALL_CLOSED", timeout=timeout, since=since)

    # -- what it heard ---------------------------------------------------------------------

    def recordings(self, kind: Literal["dec", "enc"] = "dec") -> list[Path]:
        """What it heard (``dec``) or sent (``enc``), one WAV per call, oldest first."""
        return sorted(self.rec_dir.glob(f"dump-*-{kind}.wav"))

    def recording(self) -> Path:
        """The WAV of what it heard in its one call (complete once the call has ended)."""
        files = self.recordings()
        if len(files) != 1:
            raise SoftphoneError(f"expected one recording, found {[f.name for f in files]}")
        return files[0]


@dataclass(frozen=True)
class Certificates:
    """A throwaway CA and a server certificate (with its key) that it signed."""

    ca: Path
    cert: Path
    key: Path


def make_certificates(directory: Path, ip: str = "127.0.0.1", days: int = 2) -> Certificates:
    """Make a CA and a server certificate for ``ip`` (subjectAltName IP) with the
    ``openssl`` command, in ``directory``; P-256 keys, valid ``days`` days."""
    directory.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", str(days),
            "-subj", "/CN=conference-bot test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", f"/CN={ip}")
    (directory / "server.ext").write_text(
        f"basicConstraints=CA:FALSE\nsubjectAltName=IP:{ip}\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.crt", "-days", str(days),
            "-extfile", "server.ext")  # fmt: skip
    return Certificates(directory / "ca.crt", directory / "server.crt", directory / "server.key")


def read_wav(path: Path) -> tuple[int, list[float]]:
    """A 16-bit WAV's sample rate and its first channel's samples (-1.0 to 1.0)."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: not 16-bit PCM")
        rate, channels = w.getframerate(), w.getnchannels()
        raw = w.readframes(w.getnframes())
    ints = memoryview(raw).cast("h")
    return rate, [ints[i] / 32768.0 for i in range(0, len(ints), channels)]


def tone_share(samples: list[float], rate: int, freq: float) -> float:
    """The share (0 to 1) of the signal's energy at ``freq``, by the Goertzel algorithm.

    A pure tone at ``freq`` gives about 1, silence 0, a tone elsewhere about 0 (for a
    window of N samples the frequency resolution is rate/N: keep ``freq`` far from other
    tones compared to that)."""
    n = len(samples)
    energy = sum(x * x for x in samples)
    if n == 0 or energy == 0.0:
        return 0.0
    coeff = 2.0 * math.cos(2.0 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s0 = x + coeff * s1 - s2
        s2, s1 = s1, s0
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2  # |X(freq)|^2
    return 2.0 * power / (n * energy)
