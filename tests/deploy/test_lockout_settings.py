"""The lockout thresholds (``PBX_LOCKOUT_*``): read from the environment with clear errors,
and rendered into the dialplan's ``[globals]``, where the dialplan reads them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deploy.credentials import AmiCredentials
from deploy.install import AsteriskInstall
from deploy.lockout_settings import LockoutSettings, parse_duration
from deploy.modules import MODULES
from deploy.render import render_config
from deploy.settings import PbxConfig


def test_defaults_are_the_products_policy() -> None:
    cfg = PbxConfig.from_env({}, Path("/tmp/run"))
    assert cfg.lockouts == LockoutSettings(
        pin_tries=5, pin_window=900, pin_lock=900, room_tries=20, room_window=3600,
        room_lock=3600, id_tries=10, id_window=600, id_lock=900, ivr_calls=4,
    )  # fmt: skip


def test_settings_from_the_environment() -> None:
    env = {"PBX_LOCKOUT_PIN_TRIES": "3", "PBX_LOCKOUT_PIN_WINDOW": "30m",
           "PBX_LOCKOUT_PIN_LOCK": "1h", "PBX_LOCKOUT_ID_LOCK": "45s",
           "PBX_LOCKOUT_IVR_CALLS": " 2 ", "PBX_LOCKOUT_ROOM_LOCK": "90"}  # fmt: skip
    got = PbxConfig.from_env(env, Path("/tmp/run")).lockouts
    assert (got.pin_tries, got.pin_window, got.pin_lock) == (3, 1800, 3600)
    assert (got.id_lock, got.ivr_calls, got.room_lock, got.room_tries) == (45, 2, 90, 20)
    assert [parse_duration("X", v) for v in ("900", "15m", "2h", "10 s")] == [900, 900, 7200, 10]


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("PBX_LOCKOUT_PIN_TRIES", "1", "from 2 to 100"),
        ("PBX_LOCKOUT_PIN_TRIES", "five", "from 2 to 100"),
        ("PBX_LOCKOUT_ROOM_TRIES", "101", "from 2 to 100"),
        ("PBX_LOCKOUT_PIN_WINDOW", "0", "from 1 s to 7 days"),
        ("PBX_LOCKOUT_ID_LOCK", "8d", "from 1 s to 7 days"),
        ("PBX_LOCKOUT_ROOM_WINDOW", "1h;x", "from 1 s to 7 days"),
        ("PBX_LOCKOUT_IVR_CALLS", "0", "from 1 to 100"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, says: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name} must be .*{says}"):
        PbxConfig.from_env({name: value}, Path("/tmp/run"))


def test_rendered_into_the_dialplan(tmp_path: Path) -> None:
    cfg = PbxConfig(run_dir=tmp_path / "run", lockouts=LockoutSettings(pin_tries=7, ivr_calls=3))
    install = AsteriskInstall(kind="system", argv=("/bin/false",), module_dir=tmp_path / "m",
                              sounds_dirs={}, version="Asterisk 22.10.0")  # fmt: skip
    render_config(cfg, install, AmiCredentials("bot", "secret-secret"))
    text = (cfg.etc_dir / "extensions.conf").read_text()
    all_globals = text.split("[globals]\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert "LOBBY_TIMEOUT=120" in all_globals  # the lobby's (PBX_LOBBY_TIMEOUT)
    globals_ = [line for line in all_globals if line.startswith("LOCKOUT_")]
    assert globals_ == [
        "LOCKOUT_PIN_TRIES=7", "LOCKOUT_PIN_WINDOW=900", "LOCKOUT_PIN_LOCK=900",
        "LOCKOUT_ROOM_TRIES=20", "LOCKOUT_ROOM_WINDOW=3600", "LOCKOUT_ID_TRIES=10",
        "LOCKOUT_ID_WINDOW=600", "LOCKOUT_ID_LOCK=900", "LOCKOUT_IVR_CALLS=3",
    ]  # fmt: skip
    used = set(re.findall(r"\$\{(LOCKOUT_[A-Z_]+)\}", text))
    assert used == {line.split("=")[0] for line in globals_}  # each one read, none missing
    # What the lockouts need from Asterisk is loaded.
    assert {"app_stack.so", "func_cut.so", "func_groupcount.so", "func_callerid.so"} <= set(MODULES)
