"""``conference-bot lockouts list|clear`` as a shell runs it, against a running PBX: what the
dialplan keeps in AstDB is listed, cleared by caller, by room or all at once (each clear
audited with who ran it), and the PBX lets the caller in again."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from telephony.naming import UNTIL_KEY, caller_key, lockout_family
from tests.pbx_fixtures import Pbx, Stack, eventually, reachable_dir


def shell(tmp_path: Path, pbx_run_dir: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PBX_", "CONFERENCE_"))}
    env |= {"PBX_RUN_DIR": str(pbx_run_dir), "CONFERENCE_DB": str(tmp_path / "conference-0.db"),
            "CONFERENCE_DATA_DIR": str(tmp_path / "data"), "LOGNAME": "ops"}  # fmt: skip

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot", "lockouts", *argv], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=60)  # fmt: skip

    return run


async def test_list_and_clear_from_a_shell(
    own_pbx: Pbx, make_stack: Callable[[Pbx], Awaitable[Stack]], tmp_path: Path
) -> None:
    stack = await make_stack(own_pbx)  # its database is the shell's (conference-0.db)
    room = await stack.service.create_room(name="Sales", conference_id="4321", pin="5678",
                                           actor="test")  # fmt: skip
    now = int(time.time())
    alice, guesser = caller_key("alice", "alice"), caller_key("trunk", "+15550001111")
    entries = [
        (lockout_family("pin", room_id=room.id, caller=alice), now + 600),
        (lockout_family("id", caller=guesser), now + 600),
        (lockout_family("room", room_id=room.id), now + 300),  # an admin's lock
    ]
    for family, until in entries:  # as the dialplan (and the admins' button) write them
        await stack.ami.action({"Action": "DBPut", "Family": family, "Key": UNTIL_KEY,
                                "Val": str(until)})  # fmt: skip
    run = shell(tmp_path, own_pbx.cfg.run_dir)

    def cli(*argv: str) -> Awaitable[subprocess.CompletedProcess[str]]:
        return asyncio.to_thread(run, *argv)

    listed = await cli("list", "--json")
    assert listed.returncode == 0, listed.stderr
    shown = {(e["scope"], e["room"], e["caller_key"]) for e in json.loads(listed.stdout)}
    assert shown == {("pin", "Sales", alice), ("id", None, guesser), ("room", "Sales", None)}
    table = (await cli("list")).stdout
    assert "alice" in table and "Sales (4321)" in table and "+15550001111 (trunk)" in table

    vague = await cli("clear")
    assert vague.returncode == 1 and "--caller CALLER, --room ROOM" in vague.stderr
    cleared = await cli("clear", "--caller", "alice", "--room", "sales")
    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stdout.strip() == (
        'Cleared caller alice in room "Sales" (ID 4321): lifted alice from Sales (4321).'
    )
    # The admins' lock of the room is another entry: alice is still refused until it goes.
    assert (await cli("clear", "--room", "4321")).returncode == 0
    call = asyncio.create_task(own_pbx.sipp.call("800", dtmf="4321#5678#", hold_ms=1500))
    await eventually(lambda: stack.tracker.count(room.id) == 1, what="alice let in again")
    assert (await call).ok

    everything = await cli("clear", "--all")
    assert "lifted +15550001111 (trunk) from every conference ID" in everything.stdout
    assert json.loads((await cli("list", "--json")).stdout) == []
    rows = [e for e in await stack.service.audit_log() if e.action == "lockout.cleared"]
    assert [(r.actor, r.target) for r in reversed(rows)] == [
        ("cli:ops", 'caller alice in room "Sales" (ID 4321)'),
        ("cli:ops", 'room "Sales" (ID 4321)'),
        ("cli:ops", "every lockout"),
    ]

    down = shell(tmp_path, reachable_dir("no-pbx-") / "pbx")("list")
    assert down.returncode == 1 and "The PBX is not running" in down.stderr
    assert "Traceback" not in down.stderr
