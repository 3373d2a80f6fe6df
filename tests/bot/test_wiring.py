"""Where the bot keeps its PBX's run dir (bot.wiring.run_dir)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.config import Settings
from bot.wiring import run_dir


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_environ(env, cwd=tmp_path)


def test_not_root_keeps_it_in_the_data_dir(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert run_dir(settings(tmp_path)) == tmp_path / "data" / "pbx"
    data = tmp_path / "elsewhere"
    assert run_dir(settings(tmp_path, CONFERENCE_DATA_DIR=str(data))) == data / "pbx"


def test_root_keeps_it_where_the_run_user_can_reach_it(tmp_path: Path, monkeypatch) -> None:
    # Root's home is 0700 and the data dir holds the database (0700): neither lets the
    # user Asterisk runs as through.
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    expected = Path("/var/lib/conference-bot/pbx")
    assert run_dir(settings(tmp_path)) == expected
    assert run_dir(settings(tmp_path, CONFERENCE_DATA_DIR=str(tmp_path / "d"))) == expected


@pytest.mark.parametrize("euid", [0, 1000])
def test_pbx_run_dir_wins(tmp_path: Path, monkeypatch, euid: int) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    chosen = tmp_path / "chosen"
    assert run_dir(settings(tmp_path, PBX_RUN_DIR=str(chosen))) == chosen


def test_the_trunks_are_never_banned(tmp_path: Path) -> None:
    from bot.wiring import never_banned
    from deploy.settings import PbxConfig

    cfg = PbxConfig.from_env(
        {
            "PBX_TRUNK_IPS": "203.0.113.5",
            "PBX_BAN_EXEMPT": "10.0.0.0/8",
            "PBX_TRUNK_REGISTRAR": "sip:198.51.100.9:5080",
            "PBX_TRUNK_USER": "4930123",
            "PBX_TRUNK_PASSWORD": "a-long-trunk-password",
        },
        tmp_path,
    )
    assert set(never_banned(cfg)) >= {"10.0.0.0/8", "203.0.113.5", "198.51.100.9"}
    by_name = PbxConfig.from_env(
        {
            "PBX_TRUNK_REGISTRAR": "sip:sip.example.net",
            "PBX_TRUNK_USER": "4930123",
            "PBX_TRUNK_PASSWORD": "a-long-trunk-password",
        },
        tmp_path,
    )
    assert never_banned(by_name) == []
