"""The detached daemon (deploy.daemon, deploy.pidfile) as a shell sees it:
`conference-bot pbx start|status|stop` against the bundled Asterisk."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.pbx_fixtures import assert_not_root, free_both, free_port, reachable_dir
from tests.telephony.sipp import Sipp


class Shell:
    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.env = env

    def __call__(
        self, *argv: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", *argv], cwd=self.cwd, env=env or self.env,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip


@pytest.fixture
def shell(tmp_path: Path) -> Shell:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PBX_", "CONFERENCE_"))}
    env |= {
        # Within reach of the user Asterisk runs as when the tests run as root (pytest's temp
        # dirs are 0700), and never root's default run dir, which another PBX may use.
        "PBX_RUN_DIR": str(reachable_dir() / "pbx"),
        "PBX_SIP_PORT": str(free_both()),
        "PBX_AMI_PORT": str(free_port(socket.SOCK_STREAM)),
        "PBX_HTTP_PORT": str(free_port(socket.SOCK_STREAM)),
        "PBX_RTP_PORTS": "31000-31099",
        "PBX_PHONES": "alice:alice-password-1",
    }
    return Shell(tmp_path, env)


def test_pbx_lifecycle_from_the_cli(shell: Shell, tmp_path: Path) -> None:
    status = shell("pbx", "status", "--json")
    assert status.returncode == 3, status.stderr  # like `systemctl status`: 3 = not running
    assert json.loads(status.stdout)["running"] is False
    assert shell("pbx", "status").returncode == 3

    started = shell("pbx", "start")
    try:
        assert started.returncode == 0, started.stderr
        assert "PBX running" in started.stdout
        info = json.loads(shell("pbx", "status", "--json").stdout)
        assert info["running"] is True and info["ami"] == "ready"
        assert info["sip_port"] == int(shell.env["PBX_SIP_PORT"])
        assert info["ami_port"] == int(shell.env["PBX_AMI_PORT"])
        assert info["asterisk_version"].split(".")[0] >= "20"
        assert info["extension"] is None
        assert_not_root(info["pid"])  # run as root, the bot starts it as PBX_RUN_USER

        # Changes made at the shell reach the running PBX at once.
        assert shell("server", "setup", "--extension", "800").returncode == 0
        assert (
            shell("rooms", "create", "--name", "Sales", "--id", "4321", "--pin", "5678").returncode
            == 0
        )
        assert json.loads(shell("pbx", "status", "--json").stdout)["extension"] == "800"
        listing = shell("rooms", "list")
        assert "IN CALL" in listing.stdout and "PBX offline" not in listing.stdout

        logs = tmp_path / "sipp"
        logs.mkdir()
        sipp = Sipp(int(shell.env["PBX_SIP_PORT"]), 46000, logs)
        result: dict[str, object] = {}
        call = threading.Thread(target=lambda: result.update(
            r=asyncio.run(sipp.call("800", dtmf="4321#5678#", hold_ms=6000))))  # fmt: skip
        call.start()
        people: list[dict[str, object]] = []
        for _ in range(60):
            out = shell("rooms", "participants", "Sales", "--json")
            assert out.returncode == 0, out.stderr
            people = json.loads(out.stdout)
            if people:
                break
        assert [p["caller_id_num"] for p in people] == ["alice"]
        counted = json.loads(shell("rooms", "list", "--json").stdout)
        assert counted[0]["participants"] == 1
        call.join()
        assert result["r"].ok  # type: ignore[attr-defined]

        # A shell without the PBX_* port settings still finds the running PBX where it listens.
        bare = {k: v for k, v in shell.env.items()
                if not k.startswith("PBX_") or k == "PBX_RUN_DIR"}  # fmt: skip
        seen = json.loads(shell("pbx", "status", "--json", env=bare).stdout)
        assert (seen["sip_port"], seen["ami_port"], seen["ami"]) == (
            int(shell.env["PBX_SIP_PORT"]),
            int(shell.env["PBX_AMI_PORT"]),
            "ready",
        )
        assert "PBX offline" not in shell("rooms", "list", env=bare).stdout
        # Every listener, as recorded at start, for firewall rules; each TCP one answers.
        sip_port, ami_port = int(shell.env["PBX_SIP_PORT"]), int(shell.env["PBX_AMI_PORT"])
        listed = {(x["service"], x["protocol"], x["address"], str(x["port"]), x["public"])
                  for x in seen["listeners"]}  # fmt: skip
        assert listed == {
            ("sip", "udp", "127.0.0.1", str(sip_port), True),
            ("sip", "tcp", "127.0.0.1", str(sip_port), True),
            ("rtp", "udp", "127.0.0.1", "31000-31099", True),
            ("ami", "tcp", "127.0.0.1", str(ami_port), False),
            ("http-ws", "tcp", "127.0.0.1", shell.env["PBX_HTTP_PORT"], False),
        }
        for port in (sip_port, ami_port, int(shell.env["PBX_HTTP_PORT"])):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        printed = shell("pbx", "status", env=bare).stdout
        assert f"tcp 127.0.0.1:{sip_port}" in printed and "(this machine only)" in printed

        again = shell("pbx", "start")
        assert again.returncode == 0 and "already running" in again.stderr

        # A second PBX on the same ports is a clear error, not a half-start.
        other = dict(shell.env, CONFERENCE_DATA_DIR=str(tmp_path / "other"),
                     PBX_RUN_DIR=str(reachable_dir() / "pbx"))  # fmt: skip
        clash = shell("pbx", "start", env=other)
        assert clash.returncode == 1
        assert "already in use" in clash.stderr and "Traceback" not in clash.stderr
    finally:
        stopped = shell("pbx", "stop")
    assert stopped.returncode == 0 and "PBX stopped" in stopped.stdout
    assert json.loads(shell("pbx", "status", "--json").stdout)["running"] is False
    assert "PBX offline" in shell("rooms", "list").stdout
    assert shell("pbx", "stop").stdout.strip() == "The PBX was not running."

    # Secrets stay in private files and out of every log.
    run = Path(shell.env["PBX_RUN_DIR"])
    creds = json.loads((run / "ami-credentials.json").read_text())
    assert stat.S_IMODE((run / "ami-credentials.json").stat().st_mode) == 0o600
    for secret_file in ["manager.conf", "pjsip.conf"]:
        # As root: root's, readable by the run user's group alone (deploy.ownership).
        want = 0o640 if os.geteuid() == 0 else 0o600
        assert stat.S_IMODE((run / "etc" / secret_file).stat().st_mode) == want
    for log_file in (run / "log").rglob("*"):
        if log_file.is_file():
            text = log_file.read_text(errors="replace")
            assert creds["password"] not in text and "5678" not in text
            assert "alice-password-1" not in text
