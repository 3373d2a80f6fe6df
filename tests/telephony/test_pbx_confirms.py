"""A change the PBX did not take is never reported as done (issue 10, item 4).

Asterisk is frozen (SIGSTOP) around a change: the CLI says plainly that it is saved but not
applied and exits 75, Slack's modal says so too (tests/commands/test_pbx_not_applied.py),
the sync keeps trying and applies it the moment Asterisk thaws, and the IVR reads the PIN
when it compares it, so a revoked PIN never admits anyone once the PBX answers again.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.errors import ChangeNotApplied
from bot.repository import Repository
from bot.service import ConferenceService
from bot.wiring import Telephony, build_telephony
from telephony.naming import PIN_KEY, room_family
from tests.pbx_fixtures import Pbx, eventually

OLD, NEW = "1111", "2222"


@contextmanager
def frozen(pbx: Pbx) -> Iterator[int]:
    """Asterisk stopped dead (it keeps its sockets; AMI answers nothing) until the block
    ends, however it ends."""
    pid = pbx.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGCONT)


@dataclass
class Bot:
    """What ``serve`` runs against the PBX: the service on the database file the CLI uses,
    and the telephony stack, watching for other processes' commits as serve does."""

    db: Path
    service: ConferenceService
    tel: Telephony
    events: list[dict[str, str]]

    async def pin_in_events(self, conference_id: str) -> str | None:
        """The PIN AstDB holds for a conference ID (None: no such key). DBGet answers with a
        DBGetResponse event, so it is read as a list."""
        listing = await self.tel.ami.list_action(
            {"Action": "DBGet", "Family": room_family(conference_id), "Key": PIN_KEY}
        )
        return next((str(m.get("Val", "")) for m in listing if "Val" in m), None)

    def failed(self) -> list[dict[str, str]]:
        return [e for e in self.events if e.get("UserEvent") == "ConferencePinFailed"]


@pytest.fixture
async def bot(own_pbx: Pbx, tmp_path: Path) -> AsyncIterator[Bot]:
    db = tmp_path / "conference.db"
    repo = await Repository.open(db)
    service = ConferenceService(repo)
    await service.setup_server("800", "test")
    await service.create_room(name="Sales", conference_id="4321", pin=OLD, actor="test")
    tel = build_telephony(service, host="127.0.0.1", port=own_pbx.cfg.ami_port,
                          username=own_pbx.creds.username,
                          secret=own_pbx.creds.password)  # fmt: skip
    events: list[dict[str, str]] = []
    tel.ami.register_event("UserEvent", lambda msg: events.append(dict(msg)))
    await tel.ami.start()
    tel.sync.watch()
    assert await tel.ami.wait_ready(20)
    await eventually(lambda: tel.sync.up_to_date and tel.tracker.online, what="first sync")
    yield Bot(db, service, tel, events)
    await tel.ami.close()
    await tel.sync.close()
    await repo.close()


def cli_env(pbx: Pbx, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PBX_", "CONFERENCE_"))}
    return env | {
        "PBX_RUN_DIR": str(pbx.cfg.run_dir),
        "CONFERENCE_DB": str(tmp_path / "conference.db"),
        "CONFERENCE_DATA_DIR": str(tmp_path / "data"),
    }


async def cli(env: dict[str, str], cwd: Path, *argv: str) -> tuple[int, str, str]:
    """``conference-bot ARGV`` in a process of its own, as a shell runs it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *argv, env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def read_pin_until(bot: Bot, want: str, started: float, timeout: float = 10.0) -> float:
    """Seconds from ``started`` (a monotonic time) until AstDB holds ``want``."""
    await eventually(lambda: _has_pin(bot, want), timeout=timeout, what=f"AstDB PIN {want}")
    return time.monotonic() - started


async def _has_pin(bot: Bot, want: str) -> bool:
    return await bot.pin_in_events("4321") == want


async def old_pin_refused_new_pin_joins(pbx: Pbx, bot: Bot) -> None:
    """A caller with the revoked PIN is sent away; one with the new PIN joins."""
    room = await bot.service.get_room("4321")
    old = await pbx.sipp.call("800", dtmf=f"4321#{OLD}#{OLD}#{OLD}#", wait_for_hangup=True,
                              tag="old")  # fmt: skip
    assert old.ok, old.log
    await eventually(lambda: bool(bot.failed()), what="the old PIN refused")
    assert bot.tel.tracker.count(room.id) == 0
    new = asyncio.create_task(pbx.sipp.call("800", dtmf=f"4321#{NEW}#", hold_ms=2000, tag="new"))
    await eventually(lambda: bot.tel.tracker.count(room.id) == 1, what="the new PIN joins")
    assert (await new).ok


async def test_cli_edit_while_frozen_is_not_reported_done(
    own_pbx: Pbx, bot: Bot, tmp_path: Path
) -> None:
    """serve (here: its stack) runs; the CLI edits the PIN while Asterisk is frozen."""
    env = cli_env(own_pbx, tmp_path)
    with frozen(own_pbx):
        started = time.monotonic()
        code, out, err = await cli(env, tmp_path, "rooms", "edit", "4321", "--pin", NEW,
                                   "--wait", "2")  # fmt: skip
        took = time.monotonic() - started
        await asyncio.sleep(1.0)  # serve's watch has seen the commit and keeps trying
        thawed = time.monotonic()
    assert code == 75, (out, err)
    assert "updated" not in out and "Traceback" not in err and NEW not in err + out
    assert "saved" in err and "did not confirm it within 2 s" in err
    assert "the old PIN still works" in err and "applied as soon as the PBX answers" in err
    assert took < 10, took  # a bounded wait: connecting (<= --wait) plus --wait
    background = int(re.search(r"pbx sync \(pid (\d+)\)", err)[1])  # type: ignore[index]
    assert (await bot.service.get_room("4321")).pin == NEW  # saved all the same

    applied_after = await read_pin_until(bot, NEW, thawed)
    print(f"\nCLI not-applied exit after {took:.1f} s; AstDB had the new PIN "
          f"{applied_after:.2f} s after the thaw")  # fmt: skip
    assert applied_after < 2.0
    await old_pin_refused_new_pin_joins(own_pbx, bot)
    await eventually(lambda: not alive(background), what="the background sync to end")


async def test_cli_alone_leaves_a_retry_that_applies_after_the_thaw(
    own_pbx: Pbx, tmp_path: Path
) -> None:
    """No serve at all: the background ``pbx sync`` the CLI leaves is what applies it."""
    db = tmp_path / "conference.db"
    repo = await Repository.open(db)
    service = ConferenceService(repo)
    await service.setup_server("800", "test")
    await repo.close()
    env = cli_env(own_pbx, tmp_path)
    code, _, err = await cli(env, tmp_path, "rooms", "create", "--name", "Sales", "--id", "4321",
                             "--pin", OLD)  # fmt: skip
    assert code == 0, err
    with frozen(own_pbx):
        code, out, err = await cli(env, tmp_path, "rooms", "edit", "Sales", "--pin", NEW,
                                   "--wait", "1")  # fmt: skip
        await asyncio.sleep(3)  # longer frozen than the CLI waited
        thawed = time.monotonic()
    assert code == 75 and "Traceback" not in err, err
    background = int(re.search(r"pbx sync \(pid (\d+)\)", err)[1])  # type: ignore[index]
    assert alive(background)

    # Only now does a bot connect: to watch the calls, not to apply anything (no watch).
    repo = await Repository.open(db)
    service = ConferenceService(repo)
    tel = build_telephony(service, host="127.0.0.1", port=own_pbx.cfg.ami_port,
                          username=own_pbx.creds.username,
                          secret=own_pbx.creds.password)  # fmt: skip
    events: list[dict[str, str]] = []
    tel.ami.register_event("UserEvent", lambda msg: events.append(dict(msg)))
    watcher = Bot(db, service, tel, events)
    try:
        await eventually(lambda: not alive(background), what="the background sync to end")
        took = time.monotonic() - thawed
        await tel.ami.start()
        assert await tel.ami.wait_ready(20)
        assert await watcher.pin_in_events("4321") == NEW
        print(f"\nbackground pbx sync applied and ended {took:.2f} s after the thaw")
        log = (tmp_path / "data" / "conference-bot.log").read_text()
        assert "the PBX is up to date" in log and NEW not in log
        await eventually(lambda: tel.tracker.online, what="tracker")
        await old_pin_refused_new_pin_joins(own_pbx, watcher)
        code, out, err = await cli(env, tmp_path, "pbx", "sync", "--wait", "5")  # by hand
        assert (code, err) == (0, "") and "The PBX is up to date" in out
    finally:
        await tel.ami.close()
        await tel.sync.close()
        await repo.close()


async def test_cli_waits_out_a_short_freeze(own_pbx: Pbx, bot: Bot, tmp_path: Path) -> None:
    """Frozen for less than --wait: the CLI sees the PBX confirm the change, and says done."""
    env = cli_env(own_pbx, tmp_path)
    pid = own_pbx.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        edit = asyncio.create_task(cli(env, tmp_path, "rooms", "edit", "4321", "--pin", NEW,
                                       "--wait", "8"))  # fmt: skip
        await asyncio.sleep(2)
    finally:
        os.kill(pid, signal.SIGCONT)
    code, out, err = await edit
    assert (code, err) == (0, "") and 'Room "Sales" updated.' in out
    assert await bot.pin_in_events("4321") == NEW


async def test_service_change_during_a_freeze_applies_at_the_thaw(own_pbx: Pbx, bot: Bot) -> None:
    """In serve's own process: the change is refused as done within the budget, names what
    still holds, and is applied within moments of the thaw, however long the freeze; the
    callers of a room deleted meanwhile are sent home then."""
    service = bot.service
    board = await service.create_room(name="Board", conference_id="5555", actor="test")
    inside = asyncio.create_task(own_pbx.sipp.call("800", dtmf="5555#", wait_for_hangup=True))
    await eventually(lambda: bot.tel.tracker.count(board.id) == 1, what="a caller in Board")
    loop = asyncio.get_running_loop()
    with frozen(own_pbx):
        started = loop.time()
        with pytest.raises(ChangeNotApplied) as pin_change:
            await service.update_room("Sales", actor="test", pin=NEW)
        assert loop.time() - started < 2.5  # within a Slack modal's 3 s
        assert "the old PIN still works" in pin_change.value.message
        assert NEW not in pin_change.value.message and OLD not in pin_change.value.message
        with pytest.raises(ChangeNotApplied) as moved:
            await service.update_room("Board", actor="test", conference_id="6666")
        assert "callers still dial conference ID 5555" in moved.value.message
        with pytest.raises(ChangeNotApplied) as deleted:
            await service.delete_room("Board", actor="test")
        assert "can still join it with conference ID 6666" in deleted.value.message
        # A new name only: nothing of it is in AstDB, so nothing to wait for.
        renamed = await service.update_room("Sales", actor="test", name="Sales EMEA")
        assert renamed.pin == NEW
        await asyncio.sleep(8)  # long enough for any backoff to have grown
        thawed = time.monotonic()
    applied_after = await read_pin_until(bot, NEW, thawed)
    await eventually(lambda: bot.tel.sync.up_to_date, what="nothing left to apply")
    all_after = time.monotonic() - thawed
    print(f"\nafter an 8 s freeze: the new PIN in AstDB {applied_after:.2f} s, every change "
          f"{all_after:.2f} s after the thaw")  # fmt: skip
    assert applied_after < 1.5 and all_after < 2.0
    assert await bot.tel.sync.stored_conference_ids() == {"4321"}
    result = await asyncio.wait_for(inside, 10)  # the deleted room's caller was sent home
    assert result.ok, result.log


async def test_serve_applies_what_another_process_committed(own_pbx: Pbx, bot: Bot) -> None:
    """A commit from another connection (a CLI that gave up, or never reached the PBX)
    reaches AstDB through serve's watch of the database."""
    repo = await Repository.open(bot.db)
    try:
        elsewhere = ConferenceService(repo)  # no PBX sync at all
        await elsewhere.update_room("4321", actor="cli:test", pin=NEW)
        started = time.monotonic()
        took = await read_pin_until(bot, NEW, started, timeout=5)
        assert took < 2.0
    finally:
        await repo.close()


async def test_the_ivr_reads_the_pin_when_it_compares(own_pbx: Pbx, bot: Bot) -> None:
    """A PIN changed after the caller keyed in the conference ID (when the dialplan used to
    read it) no longer admits them: it is read after the caller typed it."""
    room = await bot.service.get_room("4321")
    call = asyncio.create_task(own_pbx.sipp.call(
        "800", dtmf=f"4321#,,,,{OLD}#{OLD}#{OLD}#", wait_for_hangup=True))  # fmt: skip

    async def at_pin_prompt() -> bool:
        channels = await bot.tel.ami.list_action({"Action": "CoreShowChannels"})
        for channel in channels:
            name = str(channel.get("Channel", ""))
            if not name:
                continue
            reply = await bot.tel.ami.action(
                {"Action": "Getvar", "Channel": name, "Variable": "CONFERENCE_ID"}
            )
            if reply.get("Value") == "4321":
                return True
        return False

    await eventually(at_pin_prompt, what="the caller past the conference ID")
    await bot.service.update_room("Sales", actor="test", pin=NEW)  # confirmed at once
    assert (await call).ok
    await eventually(lambda: bool(bot.failed()), what="the old PIN refused")
    assert bot.tel.tracker.count(room.id) == 0
