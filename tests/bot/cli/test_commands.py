from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CONFERENCE_DB", raising=False)
    monkeypatch.setenv("USER", "alice")
    monkeypatch.setenv("LOGNAME", "alice")

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_first_steps(cli, tmp_path: Path) -> None:
    code, out, err = cli("rooms", "create", "--name", "Sales", "--id", "1234")
    assert code == 1 and "server setup" in err and "Traceback" not in err
    assert cli("server", "setup", "--extension", "800")[0] == 0
    code, out, _ = cli("rooms", "create", "--name", "Sales weekly", "--id", "4321", "--pin", "2468")
    assert code == 0 and 'Room "Sales weekly" created' in out and "2468" not in out
    assert cli("rooms", "create", "--name", "Open", "--id", "777", "--max", "5")[0] == 0
    code, out, _ = cli("rooms", "list", "--json")
    assert code == 0
    assert json.loads(out) == [
        {
            "name": "Open",
            "conference_id": "777",
            "has_pin": False,
            "max_participants": 5,
            "language": "en",
            "participants": None,
        },
        {
            "name": "Sales weekly",
            "conference_id": "4321",
            "has_pin": True,
            "max_participants": 10,
            "language": "en",
            "participants": None,
        },
    ]
    code, out, _ = cli("rooms", "show", "sales weekly", "--json")
    shown = json.loads(out)
    assert shown["pin"] == "2468" and shown["created_by"] == "cli:alice"
    assert json.loads(cli("rooms", "show", "777", "--json")[1])["pin"] is None
    code, out, _ = cli("rooms", "list")
    assert "Sales weekly" in out and "4321" in out and "2468" not in out and "2 of 10" in out
    code, out, _ = cli("rooms", "show", "4321")
    assert "2468" not in out and "PIN:           set" in out
    assert "2468" in cli("rooms", "show", "4321", "--show-pin")[1]
    assert (tmp_path / "data" / "conference.db").exists()


def test_edit_delete_and_audit(cli) -> None:
    cli("server", "setup")
    cli("rooms", "create", "--name", "Sales", "--id", "4321", "--pin", "2468")
    assert (
        cli("rooms", "edit", "sales", "--name", "Sales EMEA", "--id", "5555", "--pin", "1357")[0]
        == 0
    )
    shown = json.loads(cli("rooms", "show", "5555", "--json")[1])
    assert (shown["name"], shown["pin"]) == ("Sales EMEA", "1357")
    assert cli("rooms", "edit", "5555", "--no-pin")[0] == 0
    assert json.loads(cli("rooms", "show", "5555", "--json")[1])["pin"] is None
    code, _, err = cli("rooms", "edit", "5555")
    assert code == 2 and "Nothing to change" in err
    code, out, _ = cli("rooms", "delete", "Sales EMEA", "--yes")
    assert code == 0 and "deleted" in out
    assert json.loads(cli("rooms", "list", "--json")[1]) == []
    code, out, _ = cli("audit", "--limit", "3")
    lines = out.strip().splitlines()
    assert len(lines) == 3
    assert all("cli:alice" in line for line in lines)
    assert "PIN removed" in out and "2468" not in out and "1357" not in out
    entries = json.loads(cli("audit", "--json")[1])
    assert entries[-1]["action"] == "room.delete"  # oldest first, like the text


@pytest.mark.parametrize(
    "argv,message",
    [
        (["rooms", "create", "--name", "", "--id", "1234"], "cannot be empty"),
        (["rooms", "create", "--name", "x" * 65, "--id", "1234"], "at most 64"),
        (["rooms", "create", "--name", "A", "--id", "12"], "3 to 10 digits"),
        (["rooms", "create", "--name", "A", "--id", "12345678901"], "3 to 10 digits"),
        (["rooms", "create", "--name", "A", "--id", "abc"], "3 to 10 digits"),
        (["rooms", "create", "--name", "A", "--id", "1234", "--pin", "123"], "4 to 10 digits"),
        (
            ["rooms", "create", "--name", "A", "--id", "1234", "--pin", "12345678901"],
            "4 to 10 digits",
        ),
        (["rooms", "create", "--name", "A", "--id", "1234", "--max", "11"], "1 to 10"),
        (["rooms", "create", "--name", "A", "--id", "800"], "own extension"),
        (["rooms", "create", "--name", "existing", "--id", "1234"], "already exists"),
        (["rooms", "create", "--name", "A", "--id", "999"], "already used"),
        (["rooms", "show", "Nope"], 'no room named or numbered "Nope"'),
        (["rooms", "edit", "Nope", "--name", "B"], "no room named"),
        (["rooms", "delete", "424242", "--yes"], "no room named"),
        (["number", "assign", "555-1234"], "E.164"),
        (["number", "unassign"], "no phone number"),
        (["server", "setup", "--extension", "1"], "2 to 6 digits"),
        (["requests", "approve", "7"], "no deletion request #7"),
    ],
)
def test_user_mistakes_exit_non_zero_with_the_domain_message(cli, argv, message) -> None:
    cli("server", "setup")
    cli("rooms", "create", "--name", "Existing", "--id", "999")
    code, out, err = cli(*argv)
    assert code == 1
    assert message in err
    assert err.startswith("error: ") and "Traceback" not in err


def test_server_delete_guidance(cli) -> None:
    cli("server", "setup")
    cli("rooms", "create", "--name", "Sales", "--id", "4321")
    cli("number", "assign", "+15551234567")
    code, _, err = cli("server", "delete", "--yes")
    assert code == 1
    assert 'delete its room: "Sales" (ID 4321), then unassign its phone number +15551234567' in err
    cli("rooms", "delete", "Sales", "--yes")
    cli("number", "unassign")
    assert cli("server", "delete", "--yes")[0] == 0
    assert json.loads(cli("server", "show", "--json")[1]) is None


def test_requests_from_cli(cli) -> None:
    cli("server", "setup")
    cli("rooms", "create", "--name", "Sales", "--id", "4321")
    import asyncio

    from bot.repository import Repository
    from bot.service import ConferenceService

    async def file_request() -> int:
        repo = await Repository.open(Path("data/conference.db"))
        try:
            request = await ConferenceService(repo).request_deletion("Sales", requester="U1")
            return request.id
        finally:
            await repo.close()

    request_id = asyncio.run(file_request())
    code, out, _ = cli("requests", "list")
    assert "Sales" in out and "pending" in out
    assert cli("requests", "approve", str(request_id))[0] == 0
    assert json.loads(cli("rooms", "list", "--json")[1]) == []
    code, _, err = cli("requests", "deny", str(request_id))
    assert code == 1 and "already approved by cli:alice" in err


def test_usage_errors_and_help(cli, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["rooms", "frobnicate"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "ROOM is a room's name" in capsys.readouterr().out


def test_console_script_and_module(tmp_path: Path) -> None:
    env = os.environ | {"CONFERENCE_DB": str(tmp_path / "x.db")}
    script = shutil.which("conference-bot", path=str(Path(sys.executable).parent))
    assert script is not None
    for argv in ([script], [sys.executable, "-m", "bot"]):
        done = subprocess.run(
            [*argv, "server", "show", "--json"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) is None


def test_dotenv_sets_the_database(tmp_path: Path, cli) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("# settings\nexport CONFERENCE_DB='custom/place.db'  \n")
    env_file.chmod(0o644)
    assert cli("server", "setup")[0] == 0
    assert (tmp_path / "custom" / "place.db").exists()
    assert env_file.stat().st_mode & 0o777 == 0o600


def test_pin_from_stdin_stays_out_of_argv(tmp_path: Path) -> None:
    env = os.environ | {"CONFERENCE_DB": str(tmp_path / "x.db")}

    def run(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot", *argv], env=env, cwd=tmp_path,
                              input=stdin, capture_output=True, text=True, timeout=60)  # fmt: skip

    assert run("server", "setup").returncode == 0
    made = run("rooms", "create", "--name", "Sales", "--id", "4321", "--pin", "-", stdin="8642\n")
    assert made.returncode == 0, made.stderr
    assert json.loads(run("rooms", "show", "Sales", "--json").stdout)["pin"] == "8642"
    assert run("rooms", "edit", "Sales", "--pin", "-", stdin="97531\n").returncode == 0
    assert json.loads(run("rooms", "show", "Sales", "--json").stdout)["pin"] == "97531"
    bad = run("rooms", "edit", "Sales", "--pin", "-", stdin="12\n")
    assert bad.returncode == 1 and "4 to 10 digits" in bad.stderr and "12" not in bad.stderr


def test_a_broken_dotenv_is_one_line_without_its_secrets(tmp_path: Path, cli) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PBX_PHONES alice:s3cret-pass\n")
    code, _, err = cli("rooms", "list")
    assert code == 1 and len(err.splitlines()) == 1
    assert "line 1: expected KEY=VALUE" in err and "s3cret" not in err
    env_file.write_bytes(b"PBX_PHONES=alice:\xff\xfe\n")
    code, _, err = cli("rooms", "list")
    assert code == 1 and len(err.splitlines()) == 1
    assert "not UTF-8" in err and "Traceback" not in err


def test_room_owners_from_the_cli(tmp_path: Path) -> None:
    env = os.environ | {"CONFERENCE_DB": str(tmp_path / "x.db")}

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot", *argv], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    assert run("server", "setup").returncode == 0
    assert run("rooms", "create", "--name", "Sales", "--id", "4321").returncode == 0
    shown = run("rooms", "show", "Sales")
    assert "Owners:        none (the admins manage it)" in shown.stdout

    added = run("rooms", "owners", "Sales", "add", "<@u0abc1234>")
    assert (added.returncode, added.stdout) == (0, 'U0ABC1234 now owns room "Sales".\n')
    again = run("rooms", "owners", "4321", "add", "U0ABC1234")
    assert again.returncode == 1 and "already owns" in again.stderr
    bad = run("rooms", "owners", "Sales", "add", "alice")
    assert bad.returncode == 1 and "Copy member ID" in bad.stderr
    assert json.loads(run("rooms", "show", "Sales", "--json").stdout)["owners"] == ["U0ABC1234"]

    removed = run("rooms", "owners", "Sales", "remove", "U0ABC1234")
    assert removed.returncode == 0 and "no longer owns" in removed.stdout
    gone = run("rooms", "owners", "Sales", "remove", "U0ABC1234")
    assert gone.returncode == 1 and "not an owner" in gone.stderr
    usage = run("rooms", "owners", "Sales", "promote", "U0ABC1234")
    assert usage.returncode == 2
    audit = run("audit", "--json").stdout
    assert "owner.add" in audit and "owner.remove" in audit
