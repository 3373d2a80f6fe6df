"""The systemd unit shipped in deploy/systemd: valid for systemd, and never root."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "conference-bot.service"
INSTALLED = "/opt/conference-bot/.venv/bin/conference-bot"


def settings(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    # verify wants ExecStart's binary to exist: point it at this checkout's, as installed
    # by pip into the virtual environment running the tests.
    binary = Path(sys.executable).parent / "conference-bot"
    assert binary.is_file(), f"{binary} missing: pip install -e . first"
    text = UNIT.read_text()
    assert INSTALLED in text
    unit = tmp_path / "conference-bot.service"
    unit.write_text(text.replace(INSTALLED, str(binary)))
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    ours = [ln for ln in (done.stdout + done.stderr).splitlines() if "conference-bot" in ln]
    assert done.returncode == 0 and not ours, done.stdout + done.stderr


def test_the_unit_runs_as_an_unprivileged_user_in_a_sandbox() -> None:
    found = settings(UNIT.read_text())
    assert found["User"] == ["conference-bot"] and found["Group"] == ["conference-bot"]
    assert "User=root" not in UNIT.read_text() and "0" not in found["User"]
    assert found["ExecStart"] == [f"{INSTALLED} serve"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "StateDirectory": "conference-bot",
        "CacheDirectory": "conference-bot",
        "EnvironmentFile": "/etc/conference-bot/env",
        "Restart": "on-failure",
        "RestartSec": "1",
        # Calls outlive the bot: a crashed bot is restarted; its Asterisk is left alone.
        "KillMode": "process",
    }.items():
        assert found.get(key) == [value], key
