"""A PBX behind NAT (PBX_SIP_BIND, PBX_EXTERNAL_ADDRESS, PBX_LOCAL_NETS), seen by two real
SIP callers: one inside the local networks sees the server's own address in the 200 OK's
Contact and SDP, one outside sees the external address. No packet leaves loopback: the
external address is only written into SIP and SDP, and sipp sends everything to the
address it was given on the command line."""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.daemon import start_detached, stop_detached
from deploy.install import AsteriskInstall
from deploy.settings import PbxConfig
from tests.pbx_fixtures import assert_not_root, free_both, free_port, reachable_dir
from tests.ports import rtp_range, sipp_base
from tests.telephony.sipp import SCENARIOS, sipp_binary

SERVER = "127.0.0.2"
INSIDE = "127.0.0.3"
OUTSIDE = "127.0.0.4"
EXTERNAL = "198.51.100.7"  # TEST-NET-2: never routed, only written into SIP and SDP


@pytest.fixture
def nat_pbx(install: AsteriskInstall) -> Iterator[PbxConfig]:
    base = reachable_dir("nat-")  # Asterisk started by root runs as a user who must reach it
    rtp, rtp_end = rtp_range()
    cfg = PbxConfig.from_env(
        {
            "PBX_SIP_BIND": SERVER,
            "PBX_EXTERNAL_ADDRESS": EXTERNAL,
            "PBX_LOCAL_NETS": f"{INSIDE}/32",
            "PBX_SIP_PORT": str(free_both()),
            "PBX_AMI_PORT": str(free_port(socket.SOCK_STREAM)),
            "PBX_HTTP_PORT": str(free_port(socket.SOCK_STREAM)),
            "PBX_RTP_PORTS": f"{rtp}-{rtp_end}",
            "PBX_PHONES": "alice:alice-password-1",
        },
        base / "run",
    )
    assert_not_root(start_detached(cfg, install))
    rx = subprocess.run(
        install.command(
            "-C", str(cfg.asterisk_conf), "-rx", "database put conference/server extension 800"
        ),
        capture_output=True, text=True, timeout=10, check=True,
    )  # fmt: skip
    assert "Updated database successfully" in rx.stdout
    yield cfg
    stop_detached(cfg.run_dir)


def _answer_seen_from(cfg: PbxConfig, local_ip: str, logs: Path) -> str:
    """Call the server from ``local_ip`` and return the 200 OK to the INVITE as received."""
    logs.mkdir(parents=True, exist_ok=True)
    messages = logs / "messages.log"
    argv = [
        sipp_binary(), "-sf", str(SCENARIOS / "call.xml"), f"{SERVER}:{cfg.sip_port}",
        "-s", "800", "-i", local_ip, "-bind_local",
        "-p", str(free_port(socket.SOCK_DGRAM)), "-mp", str(sipp_base()),
        "-m", "1", "-l", "1", "-nostdin", "-timeout", "30", "-recv_timeout", "15000",
        "-set", "caller", "alice", "-set", "dtmf", "", "-set", "mode", "hold", "-d", "200",
        "-au", "alice", "-ap", "alice-password-1", "-auth_uri", f"sip:800@{SERVER}:{cfg.sip_port}",
        "-trace_msg", "-message_file", str(messages),
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, cwd=logs, timeout=60)
    assert done.returncode == 0, messages.read_text(errors="replace")[-3000:]
    text = messages.read_text(errors="replace")
    for block in re.split(r"\n-{5,}[^\n]*\n", text):
        if re.search(r"^SIP/2\.0 200 OK", block, re.M) and "CSeq: 2 INVITE" in block:
            return block
    raise AssertionError(f"no 200 OK to the INVITE in {messages}")


def _contact_host(answer: str) -> str:
    m = re.search(r"^Contact:\s*<sips?:(?:[^@>]*@)?([^:;>]+)", answer, re.M | re.I)
    assert m, answer
    return m.group(1)


def _sdp_addresses(answer: str) -> tuple[str, str]:
    c = re.search(r"^c=IN IP4 (\S+)", answer, re.M)
    o = re.search(r"^o=\S+ \S+ \S+ IN IP4 (\S+)", answer, re.M)
    assert c and o, answer
    return c.group(1), o.group(1)


def test_callers_inside_see_the_local_address_outside_the_external_one(
    nat_pbx: PbxConfig, tmp_path: Path
) -> None:
    inside = _answer_seen_from(nat_pbx, INSIDE, tmp_path / "inside")
    outside = _answer_seen_from(nat_pbx, OUTSIDE, tmp_path / "outside")

    assert _contact_host(inside) == SERVER
    assert _sdp_addresses(inside) == (SERVER, SERVER)
    assert EXTERNAL not in inside

    assert _contact_host(outside) == EXTERNAL
    assert _sdp_addresses(outside)[0] == EXTERNAL
    # What a remote phone needs to answer back through NAT.
    assert re.search(rf"^Via:.*received={OUTSIDE}", outside, re.M | re.I), outside


def test_without_nat_settings_nothing_is_rewritten(tmp_path: Path) -> None:
    from deploy.pjsip import transports

    plain = transports(PbxConfig(run_dir=tmp_path))
    assert "external_" not in plain and "local_net" not in plain
    assert "bind = 127.0.0.1:5060" in plain and "protocol = tcp" in plain
    assert "protocol = tls" not in plain
