"""Call setup time, INVITE to 200 OK, from a real softphone (baresip) over UDP, TCP and TLS.

    .venv/bin/python -m bench.bench_call_setup [--runs 20] [--cold 10]

Starts its own Asterisk from the cached prefix on free loopback ports, with TLS (a CA and
server certificate made for the run) and SRTP optional, and the server extension 800 in
AstDB. Needs ``baresip`` (``./dev test`` installs it).

Method: a registered baresip (tests/softphone.py) dials 800; the IVR answers at once
(``Answer()`` is its first step). baresip reports over its ctrl_tcp connection the moment it
builds the SDP offer, just before it sends the INVITE (``CALL_LOCAL_SDP``), and the moment
the 200 OK arrives (``CALL_ESTABLISHED``); each event is stamped on arrival, so both carry
the same loopback delivery delay and their difference is INVITE to 200 OK, including the
digest challenge every call gets (INVITE, 401, ACK, INVITE with credentials, 100, 200).
The phone hangs up after each answer and waits for the end of the call before the next.

Rows: ``udp``, ``tcp``, ``tls`` and ``tls+srtp`` with a registered phone, whose connection
(TCP or TLS) is already open from its REGISTER, as on a real desk phone; and ``tls cold``:
a fresh phone that never registered, so its INVITE waits for the TCP connect and the TLS
handshake. ``dial->200`` is measured from the control command instead (baresip's own
command handling on top). baresip 1.0's log has no timestamps, so its own log cannot be
used; both ends run on this machine, so the figures are the server's and the phone's
processing, not network time.

Over TCP and TLS about 40 ms of each figure is the phone's, not the server's: libre (baresip's
SIP stack) does not set TCP_NODELAY, so the INVITE with credentials, written right after the
ACK to the 401, waits in the phone's kernel (Nagle) for the ACK of that ACK segment, which
the server's kernel delays (delayed ACK, 40 ms) because Asterisk has nothing to answer to an
ACK. Seen with ``strace -tt`` on baresip: INVITE written at t, "100 Trying" read at
t + 41 ms; the first INVITE's 401 came back in 0.8 ms, and the 200 OK 0.6 ms after the 100.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import shutil
import tempfile
from pathlib import Path

from bench.bench_pbx import figures
from deploy.daemon import run_cli
from deploy.install import AsteriskInstall
from deploy.prefix import ensure_prefix
from deploy.process import AsteriskProcess
from telephony.naming import EXTENSION_KEY, SERVER_FAMILY
from tests.pbx_fixtures import free_both, make_pbx
from tests.softphone import Certificates, MediaEnc, Softphone, Transport, make_certificates

EXTENSION = "800"


async def one_call(phone: Softphone) -> tuple[float, float]:
    """(INVITE to 200 OK, dial command to 200 OK), in ms."""
    loop = asyncio.get_running_loop()
    since = len(phone.events)
    t_dial = loop.time()
    answered = await phone.dial(EXTENSION)
    offer = next(e for e in phone.events[since:] if e.type == "CALL_LOCAL_SDP")
    await phone.hangup()
    return (answered.at - offer.at) * 1000, (answered.at - t_dial) * 1000


async def bench_row(
    base: Path,
    port: int,
    transport: Transport,
    mediaenc: MediaEnc | None,
    certs: Certificates,
    runs: int,
    *,
    cold: bool = False,
) -> tuple[list[float], list[float]]:
    invite, dial = [], []
    phones = 1 if not cold else runs
    for n in range(phones):
        phone = Softphone(base / f"{transport}-{mediaenc}-{cold}-{n}", user="alice",
                          password="alice-password-1", server_port=port, transport=transport,
                          mediaenc=mediaenc, cafile=certs.ca, register=not cold)  # fmt: skip
        async with phone:
            for _ in range(1 if cold else runs):
                a, b = await one_call(phone)
                invite.append(a)
                dial.append(b)
                await asyncio.sleep(0.1)
    return invite, dial


def workspace() -> Path:
    # The PBX's run dir is placed by make_pbx (where a root run's Asterisk user reaches it).
    return Path(tempfile.mkdtemp(prefix="bench-call-setup-"))


async def main(args: argparse.Namespace) -> None:
    install: AsteriskInstall = await asyncio.to_thread(ensure_prefix)
    base = await asyncio.to_thread(workspace)
    try:
        certs = await asyncio.to_thread(make_certificates, base / "certs")
        pbx = make_pbx(install, base / "pbx" / "run", base / "pbx" / "logs")
        tls_port = free_both()
        while tls_port == pbx.cfg.sip_port:
            tls_port = free_both()
        cfg = dataclasses.replace(pbx.cfg, tls_cert=certs.cert, tls_key=certs.key,
                                  tls_port=tls_port, srtp="optional")  # fmt: skip
        proc = AsteriskProcess(cfg, install)
        await proc.start()
        try:
            put = f"database put {SERVER_FAMILY} {EXTENSION_KEY} {EXTENSION}"
            await asyncio.to_thread(run_cli, install, cfg.run_dir, put)
            rows: list[tuple[str, int, Transport, MediaEnc | None, bool]] = [
                ("udp", cfg.sip_port, "udp", None, False),
                ("tcp", cfg.sip_port, "tcp", None, False),
                ("tls", cfg.tls_port, "tls", None, False),
                ("tls+srtp", cfg.tls_port, "tls", "srtp-mand", False),
                ("tls+srtp cold", cfg.tls_port, "tls", "srtp-mand", True),
            ]
            print(f"call setup, {args.runs} calls per row ({args.cold} for the cold row)")
            for name, port, transport, mediaenc, cold in rows:
                runs = args.cold if cold else args.runs
                invite, dial = await bench_row(base / "phones", port, transport, mediaenc, certs,
                                               runs, cold=cold)  # fmt: skip
                print(figures(f"{name:14} INVITE->200", invite))
                print(figures(f"{name:14} dial->200  ", dial))
        finally:
            await proc.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="calls per row")
    parser.add_argument("--cold", type=int, default=10, help="calls (fresh phones) for TLS cold")
    asyncio.run(main(parser.parse_args()))
