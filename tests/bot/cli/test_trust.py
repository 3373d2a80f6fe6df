"""The CLI at its trust boundaries, run as a shell runs it (``python -m bot``): files it is
pointed at, numbers it is given and text it prints that came from someone else."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.repository import SCHEMA_VERSION

# Never printed raw: C0 but the newline ending a line, DEL, C1, bidi controls.
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def run(
    tmp_path: Path,
    *argv: str,
    db: Path | None = None,
    data: Path | None = None,
    launcher: Sequence[str] = (sys.executable,),
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONFERENCE_", "PBX_"))}
    env["CONFERENCE_DATA_DIR"] = str(data or tmp_path / "data")
    env["CONFERENCE_DB"] = str(db or tmp_path / "data" / "conference.db")
    env["PBX_RUN_DIR"] = str(tmp_path / "no-pbx")  # never a PBX of another test
    return subprocess.run(
        [*launcher, "-m", "bot", *argv], cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip


def refused(done: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit 1 with exactly one line on stderr, holding ``words``; returns that line."""
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def fingerprint(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def made(tmp_path: Path) -> Path:
    """A real database with a server, two rooms and an audit trail, as the CLI wrote it."""
    db = tmp_path / "data" / "conference.db"
    for argv in (
        ["server", "setup"],
        ["rooms", "create", "--name", "Sales", "--id", "4321", "--pin", "2468"],
        ["rooms", "create", "--name", "Support", "--id", "5555"],
    ):
        assert run(tmp_path, *argv).returncode == 0
    return db


# -- 12: no traceback; exit 1 for data and files, 2 for usage only ------------------------------


def test_an_unwritable_data_dir_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = run(tmp_path, "rooms", "list", data=blocker / "data", db=blocker / "data" / "c.db")
    refused(done, str(blocker / "data"), "Not a directory", "CONFERENCE_DATA_DIR")


def test_a_directory_as_database(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    refused(run(tmp_path, "rooms", "list", db=folder), str(folder), "is a directory")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "page overwritten"])
def test_a_damaged_database_is_refused_and_left_as_it_is(made: Path, damage: str) -> None:
    tmp_path = made.parents[1]
    data = made.read_bytes()
    if damage == "garbage":
        made.write_bytes(b"these are not the rooms you are looking for\n" * 100)
    elif damage == "truncated":
        made.write_bytes(data[: len(data) // 3])
    else:
        page = 4096
        made.write_bytes(data[: 3 * page] + b"\xff" * page + data[4 * page :])
    before = fingerprint(made)
    line = refused(run(tmp_path, "rooms", "list"), str(made), "damaged", "backup")
    assert "2468" not in line
    assert fingerprint(made) == before
    # Nothing else writes to it either: a change is refused the same way.
    refused(run(tmp_path, "rooms", "create", "--name", "X", "--id", "777"), "damaged")
    assert fingerprint(made) == before


def test_a_newer_schema_is_a_problem_with_data_not_usage(made: Path) -> None:
    with sqlite3.connect(made) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = fingerprint(made)
    refused(run(made.parents[1], "rooms", "list"), "newer conference-bot", "Upgrade")
    assert fingerprint(made) == before


@pytest.mark.parametrize(
    "argv",
    [
        ["requests", "approve", "123456789012345678901234567890"],
        ["requests", "deny", "123456789012345678901234567890"],
        ["audit", "--limit", "99999999999999999999999999999999"],
        ["requests", "approve", "9223372036854775808"],  # one past SQLite's largest integer
    ],
)
def test_numbers_too_large_for_sqlite_are_usage_errors(made: Path, argv: list[str]) -> None:
    done = run(made.parents[1], *argv)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "unexpected" not in done.stderr
    assert "expected a whole number from 1 to 9223372036854775807" in done.stderr


def test_large_numbers_that_sqlite_takes_are_ordinary_answers(made: Path) -> None:
    tmp_path = made.parents[1]
    refused(run(tmp_path, "rooms", "show", "123456789012345678901234567890"), "no room named")
    refused(run(tmp_path, "requests", "approve", "9223372036854775807"), "no deletion request")
    assert run(tmp_path, "audit", "--limit", "9223372036854775807").returncode == 0


# Run as root without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, file modes bind root too: this
# launcher drops them from the bounding set, then execs the rest of its argv.
NO_DAC_OVERRIDE = [
    sys.executable, "-c",
    "import ctypes, os, sys\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "for cap in (1, 2):  # PR_CAPBSET_DROP CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH\n"
    "    if libc.prctl(24, cap, 0, 0, 0):\n"
    "        sys.exit(f'prctl: {os.strerror(ctypes.get_errno())}')\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])",
]  # fmt: skip


def _modes_apply(tmp_path: Path) -> list[str]:
    """How to run the CLI so that file modes bind it (root bypasses them); skip if we cannot."""
    if os.geteuid() != 0:
        return []
    probe = tmp_path / "probe"
    probe.write_text("")
    probe.chmod(0o400)
    check = f"import os\ntry: os.open({str(probe)!r}, os.O_WRONLY)\nexcept OSError: exit(7)"
    done = subprocess.run([*NO_DAC_OVERRIDE, "-c", check], capture_output=True, timeout=60)
    if done.returncode != 7:
        pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE: file modes do not bind")
    return NO_DAC_OVERRIDE


def test_permission_denied(made: Path) -> None:
    tmp_path = made.parents[1]
    how = _modes_apply(tmp_path) or [sys.executable]
    made.chmod(0o400)
    before = fingerprint(made)
    refused(run(tmp_path, "rooms", "list", launcher=how), str(made), "Permission denied", "user")
    assert fingerprint(made) == before
    made.chmod(0o600)
    before = fingerprint(made)
    made.parent.chmod(0o500)  # the file may be written, but its -wal and -shm not created
    try:
        refused(run(tmp_path, "rooms", "list", launcher=how), f"cannot write {made}", "folder")
    finally:
        made.parent.chmod(0o700)
    assert fingerprint(made) == before

    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        for db in (locked / "c.db", locked / "sub" / "c.db"):
            refused(run(tmp_path, "rooms", "list", db=db, launcher=how), "Permission denied")
    finally:
        locked.chmod(0o700)
    assert list(locked.iterdir()) == []


# -- 13: a regular file of ours, or nothing -------------------------------------------------------


def test_a_symlink_as_database_is_refused_and_its_target_untouched(made: Path) -> None:
    tmp_path = made.parents[1]
    made.chmod(0o644)  # someone's own copy, readable by their group: not ours to change
    before = fingerprint(made)
    link = tmp_path / "link.db"
    link.symlink_to(made)
    refused(run(tmp_path, "rooms", "list", db=link), str(link), "symbolic link")
    refused(run(tmp_path, "server", "setup", "--extension", "900", db=link), "symbolic link")
    assert fingerprint(made) == before

    dangling = tmp_path / "dangling.db"
    dangling.symlink_to(tmp_path / "elsewhere.db")
    refused(run(tmp_path, "rooms", "list", db=dangling), "symbolic link")
    assert not (tmp_path / "elsewhere.db").exists()


@pytest.mark.parametrize("suffix", ["-wal", "-shm"])
def test_a_symlinked_side_file_is_refused(made: Path, suffix: str) -> None:
    tmp_path = made.parents[1]
    target = tmp_path / "precious"
    target.write_text("someone else's file\n")
    target.chmod(0o644)
    made.with_name(made.name + suffix).symlink_to(target)
    refused(run(tmp_path, "rooms", "list"), f"conference.db{suffix}", "symbolic link", "Remove")
    assert fingerprint(target) == (b"someone else's file\n", 0o644)


def test_a_fifo_or_a_device_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    refused(run(tmp_path, "rooms", "list", db=fifo), "named pipe", "regular file")
    if os.geteuid() == 0:
        device = tmp_path / "null"  # a private null device, so nothing system-wide is at stake
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    else:
        device = Path(os.devnull)
    mode = device.stat().st_mode
    refused(run(tmp_path, "rooms", "list", db=device), "character device")
    assert device.stat().st_mode == mode


def test_loose_modes_are_reported_and_left_alone(made: Path) -> None:
    tmp_path = made.parents[1]
    made.chmod(0o644)
    done = run(tmp_path, "rooms", "list")
    assert done.returncode == 0 and "Sales" in done.stdout
    assert "warning:" in done.stderr and f"run chmod 600 {made}" in done.stderr
    assert stat.S_IMODE(made.stat().st_mode) == 0o644
    if os.geteuid() != 0:
        return  # only root can make a file of another user's
    os.chown(made, 65534, 65534)
    made.chmod(0o640)
    done = run(tmp_path, "rooms", "list")
    assert done.returncode == 0 and "Sales" in done.stdout
    assert "another user" in done.stderr and f"chmod 600 {made}" in done.stderr
    assert stat.S_IMODE(made.stat().st_mode) == 0o640


def test_dotenv_behind_a_link_is_read_but_not_chmod_ed(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.env"
    secrets.write_text(f"CONFERENCE_DB={tmp_path / 'from-env.db'}\n")
    secrets.chmod(0o640)
    work = tmp_path / "work"
    work.mkdir()
    (work / ".env").symlink_to(secrets)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONFERENCE_", "PBX_"))}
    env["CONFERENCE_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run([sys.executable, "-m", "bot", "server", "setup"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "from-env.db").exists()
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o640


# -- 7: text from elsewhere cannot drive the terminal ----------------------------------------------

EVIL_NAME = "Evil\x1b]0;owned\x07\x1b[2J\x9b31m\u202eroom"
EVIL_REASON = "ok\nerror: forged line \x1b[5m"


def test_text_from_the_database_is_printed_escaped(made: Path) -> None:
    tmp_path = made.parents[1]
    with sqlite3.connect(made) as conn:  # as an older version, or a tampered file, had it
        conn.execute("UPDATE rooms SET name = ?, created_by = ? WHERE conference_id = '4321'",
                     (EVIL_NAME, "cli:\x1b[8mroot"))  # fmt: skip
        conn.execute(
            "INSERT INTO deletion_requests (room_id, room_name, conference_id, requester, reason,"
            " created_at) SELECT id, name, conference_id, ?, ?, 't0' FROM rooms"
            " WHERE conference_id = '4321'",
            ("U1\x1b[31m", EVIL_REASON),
        )
        conn.execute(
            "INSERT INTO audit_log (at, actor, action, target, summary) VALUES"
            " ('t1', 'slack:U1', 'room.update', 'x', ?)",
            ("\x1b[2Jcleared\r\n2026-01-01 cli:root room.delete forged",),
        )
    conn.close()
    outputs = {
        "list": run(tmp_path, "rooms", "list"),
        "show": run(tmp_path, "rooms", "show", "4321"),
        "requests": run(tmp_path, "requests", "list"),
        "audit": run(tmp_path, "audit"),
        "edit": run(tmp_path, "rooms", "edit", "4321", "--max", "5"),
        "clash": run(tmp_path, "rooms", "create", "--name", "Other", "--id", "4321"),
        "deny": run(tmp_path, "requests", "deny", "1"),
    }
    for what, done in outputs.items():
        assert not RAW_CONTROL.search(done.stdout + done.stderr), (what, done)
        assert "Traceback" not in done.stderr, what
    for what in ("list", "show", "edit", "deny"):
        assert "Evil\\x1b]0;owned\\x07\\x1b[2J\\x9b31m\\u202eroom" in outputs[what].stdout, what
    assert "Evil\\x1b]0;owned" in outputs["clash"].stderr
    assert "cli:\\x1b[8mroot" in outputs["show"].stdout
    requests = outputs["requests"].stdout
    assert "ok\\nerror: forged line \\x1b[5m" in requests and "U1\\x1b[31m" in requests
    assert len(requests.splitlines()) == 2  # the header and the one request: nothing forged
    audit = outputs["audit"].stdout
    assert "\\x1b[2Jcleared\\r\\n2026-01-01 cli:root room.delete forged" in audit
    assert not any(line.startswith("2026-01-01") for line in audit.splitlines())

    listed = run(tmp_path, "rooms", "list", "--json")
    assert not RAW_CONTROL.search(listed.stdout)
    assert EVIL_NAME in [r["name"] for r in json.loads(listed.stdout)]  # exact, for scripts
    entries = run(tmp_path, "requests", "list", "--json").stdout
    assert not RAW_CONTROL.search(entries) and json.loads(entries)[0]["reason"] == EVIL_REASON
