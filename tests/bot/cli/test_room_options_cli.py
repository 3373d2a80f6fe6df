"""``rooms create|edit`` with a moderator PIN and call options, and ``rooms show`` listing
them: the moderator PIN only with --show-pin, never in the audit log or the log file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bot.cli.test_commands import cli  # noqa: F401  (the fixture)

MODPIN = "97531"
NEW_MODPIN = "86420"


def _show(cli, room: str, *flags: str) -> dict[str, object]:  # noqa: F811
    code, out, err = cli("rooms", "show", room, "--json", *flags)
    assert code == 0, err
    shown: dict[str, object] = json.loads(out)
    return shown


def test_create_edit_and_show_the_options(cli, tmp_path: Path) -> None:  # noqa: F811
    assert cli("server", "setup")[0] == 0
    code, out, err = cli(
        "rooms", "create", "--name", "Board", "--id", "4242", "--pin", "2468",
        "--moderator-pin", MODPIN, "--wait-for-moderator", "--start-muted", "--join-notes",
    )  # fmt: skip
    assert code == 0, err
    assert out.strip() == (
        'Room "Board" created: conference ID 4242, with a PIN and a moderator PIN.'
    )
    shown = _show(cli, "board")
    assert "moderator_pin" not in shown and shown["has_moderator_pin"] is True
    assert {k: shown[k] for k in ("wait_for_moderator", "end_with_moderator", "start_muted",
                                  "lobby", "join_notes")} == {
        "wait_for_moderator": True, "end_with_moderator": False, "start_muted": True,
        "lobby": False, "join_notes": True,
    }  # fmt: skip
    assert _show(cli, "board", "--show-pin")["moderator_pin"] == MODPIN

    code, out, _ = cli("rooms", "show", "4242")
    assert "Moderator PIN: set (add --show-pin to see it)" in out and MODPIN not in out
    assert (
        "Options:       callers wait for a moderator; callers join muted; join/leave notes on"
        in out
    )
    code, out, _ = cli("rooms", "show", "4242", "--show-pin")
    assert f"Moderator PIN: {MODPIN}" in out

    # Edit: only the options named change; the moderator PIN is changed, then removed.
    code, out, err = cli(
        "rooms", "edit", "board", "--no-start-muted", "--lobby", "--moderator-pin", NEW_MODPIN
    )
    assert code == 0, err
    shown = _show(cli, "board", "--show-pin")
    assert (shown["start_muted"], shown["lobby"], shown["wait_for_moderator"]) == (
        False, True, True,
    )  # fmt: skip
    assert shown["moderator_pin"] == NEW_MODPIN and shown["pin"] == "2468"

    # Waiting for a moderator needs a moderator PIN: removing it alone is refused.
    code, out, err = cli("rooms", "edit", "board", "--no-moderator-pin")
    assert code == 1 and "need a moderator PIN" in err and "turn those options off" in err
    assert _show(cli, "board", "--show-pin")["moderator_pin"] == NEW_MODPIN  # nothing saved
    code, out, err = cli("rooms", "edit", "board", "--no-moderator-pin", "--no-wait-for-moderator")
    assert code == 0, err
    code, out, _ = cli("rooms", "show", "board")
    assert "Moderator PIN: none" in out

    code, out, _ = cli("audit", "--json")
    summaries = [e["summary"] for e in json.loads(out)]
    assert 'Changed room "Board": moderator PIN removed; callers need no moderator' in summaries
    assert any("moderator PIN changed" in s and "callers join unmuted" in s for s in summaries)
    assert MODPIN not in out and NEW_MODPIN not in out
    logs = [p for p in (tmp_path / "data").iterdir() if p.suffix == ".log"]
    assert all(MODPIN not in p.read_text() and NEW_MODPIN not in p.read_text() for p in logs)


def test_options_off_by_default_and_nothing_to_change(
    cli,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli("server", "setup")
    assert cli("rooms", "create", "--name", "Open", "--id", "777")[0] == 0
    code, out, _ = cli("rooms", "show", "777")
    assert "Moderator PIN: none" in out and "Options:       none" in out
    code, _, err = cli("rooms", "edit", "777")
    assert code == 2 and "--moderator-pin" in err and "--lobby/--no-lobby" in err
    code, out, _ = cli("rooms", "edit", "777", "--no-lobby")
    assert code == 0 and "already had those settings" in out
    with pytest.raises(SystemExit) as usage:
        cli("rooms", "edit", "777", "--moderator-pin", "1234", "--no-moderator-pin")
    assert usage.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_moderator_pin_mistakes(cli) -> None:  # noqa: F811
    cli("server", "setup")
    code, _, err = cli("rooms", "create", "--name", "A", "--id", "4242", "--moderator-pin", "12")
    assert code == 1 and "moderator PIN must be 4 to 10 digits" in err
    code, _, err = cli(
        "rooms", "create", "--name", "A", "--id", "4242", "--pin", "2468",
        "--moderator-pin", "2468",
    )  # fmt: skip
    assert code == 1 and "must differ from the room's PIN" in err and "2468" not in err
    assert cli("rooms", "create", "--name", "A", "--id", "4242", "--pin", "2468")[0] == 0
    code, _, err = cli("rooms", "edit", "A", "--moderator-pin", "2468")
    assert code == 1 and "must differ" in err
    code, _, err = cli("rooms", "edit", "A", "--wait-for-moderator", "--moderator-pin", "x1")
    assert code == 1 and not _show(cli, "A")["wait_for_moderator"]  # nothing saved
    code, _, err = cli("rooms", "edit", "A", "--end-with-moderator")
    assert code == 1 and "need a moderator PIN" in err


def test_both_pins_from_stdin_stay_out_of_argv(tmp_path: Path) -> None:
    env = os.environ | {"CONFERENCE_DB": str(tmp_path / "x.db")}

    def run(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot", *argv], env=env, cwd=tmp_path,
                              input=stdin, capture_output=True, text=True, timeout=60)  # fmt: skip

    assert run("server", "setup").returncode == 0
    made = run(
        "rooms", "create", "--name", "Sales", "--id", "4321", "--pin", "-",
        "--moderator-pin", "-", stdin=f"8642\n{MODPIN}\n",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    shown = json.loads(run("rooms", "show", "Sales", "--json", "--show-pin").stdout)
    assert (shown["pin"], shown["moderator_pin"]) == ("8642", MODPIN)
    assert run("rooms", "edit", "Sales", "--moderator-pin", "-", stdin="1357\n").returncode == 0
    shown = json.loads(run("rooms", "show", "Sales", "--json", "--show-pin").stdout)
    assert shown["moderator_pin"] == "1357"
