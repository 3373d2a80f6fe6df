"""Actions on a live call from the CLI (``rooms mute|unmute|kick|lock|unlock|end``), as a
shell runs them against a running Asterisk with sipp callers: each confirmed by Asterisk,
audited, and refused with a reason (exit 1) when it cannot be done."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot import errors, exits
from bot.models import RecordingStatus, Role
from bot.service import ConferenceService
from telephony.tracker import RecordingStopped
from tests.pbx_fixtures import Pbx, Stack, eventually
from tests.telephony.sipp import SippResult


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


class Cli:
    """``python -m bot`` on the stack's database, connecting to the stack's PBX."""

    def __init__(self, db: Path, run_dir: Path, data: Path) -> None:
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("PBX_", "CONFERENCE_"))
        }
        self.env |= {"CONFERENCE_DB": str(db), "CONFERENCE_DATA_DIR": str(data),
                     "PBX_RUN_DIR": str(run_dir)}  # fmt: skip

    async def __call__(self, *argv: str) -> Ran:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", *argv, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode is not None
        return Ran(proc.returncode, out.decode(), err.decode())


async def _setup(pbx: Pbx, make_stack, tmp_path: Path) -> tuple[Stack, Cli, int]:
    stack = await make_stack(pbx)
    room = await stack.service.create_room(name="Board", conference_id="4321", actor="test")
    # make_stack's first database; the CLI shares it, as an admin's shell shares serve's.
    return stack, Cli(tmp_path / "conference-0.db", pbx.cfg.run_dir, tmp_path / "data"), room.id


def _call(pbx: Pbx, caller: str, tag: str) -> asyncio.Task[SippResult]:
    """A caller who stays until Asterisk hangs up on them (``ok`` once it did)."""
    return asyncio.create_task(pbx.sipp.call(
        "800", dtmf="4321#", caller=caller, password=f"{caller}-password-1",
        wait_for_hangup=True, tag=tag,
    ))  # fmt: skip


async def test_mute_kick_and_end_a_call_from_the_cli(
    shared_pbx: Pbx, make_stack, tmp_path: Path
) -> None:
    stack, cli, room = await _setup(shared_pbx, make_stack, tmp_path)
    alice, bob = _call(shared_pbx, "alice", "live-alice"), _call(shared_pbx, "bob", "live-bob")
    await eventually(lambda: stack.tracker.count(room) == 2, what="two callers in")

    muted = await cli("rooms", "mute", "Board", "alice")
    assert muted.returncode == exits.OK, muted.stderr
    assert "is muted" in muted.stdout
    [who] = [p for p in stack.tracker.participants(room) if p.caller_id_num == "alice"]
    assert who.muted  # the stack's own tracker saw ConfbridgeMute
    listed = await cli("rooms", "participants", "4321", "--json")
    by_num = {p["caller_id_num"]: p for p in json.loads(listed.stdout)}
    assert by_num["alice"]["muted"] is True and by_num["bob"]["muted"] is False
    assert by_num["alice"]["joined_at"]
    table = await cli("rooms", "participants", "4321")
    assert "MUTED" in table.stdout and "JOINED" in table.stdout

    unmuted = await cli("rooms", "unmute", "Board", who.channel)  # by channel too
    assert unmuted.returncode == exits.OK, unmuted.stderr
    assert not stack.tracker.participants(room)[0].muted

    kicked = await cli("rooms", "kick", "Board", "bob")
    assert kicked.returncode == exits.OK, kicked.stderr
    assert (await asyncio.wait_for(bob, 20)).ok  # bob got a BYE
    assert stack.tracker.count(room) == 1

    ended = await cli("rooms", "end", "Board")
    assert ended.returncode == exits.OK, ended.stderr
    assert "1 caller removed" in ended.stdout
    assert (await asyncio.wait_for(alice, 20)).ok
    assert stack.tracker.count(room) == 0

    audit = [(e.action, e.actor) for e in await stack.service.audit_log(10)]
    actions = [a for a, actor in audit if actor.startswith("cli:")]
    assert actions[:4] == ["call.end", "call.kick", "call.unmute", "call.mute"]


async def test_lock_unlock_and_refusals_from_the_cli(
    shared_pbx: Pbx, make_stack, tmp_path: Path
) -> None:
    stack, cli, room = await _setup(shared_pbx, make_stack, tmp_path)

    empty = await cli("rooms", "lock", "Board")
    assert empty.returncode == exits.FAILED
    assert 'Nobody is in room "Board"' in empty.stderr

    first = _call(shared_pbx, "alice", "lock-first")
    twin = _call(shared_pbx, "alice", "lock-twin")
    await eventually(lambda: stack.tracker.count(room) == 2, what="two callers in")
    unknown = await cli("rooms", "kick", "Board", "carol")
    assert unknown.returncode == exits.FAILED
    assert 'Nobody matching "carol"' in unknown.stderr and "alice" in unknown.stderr
    ambiguous = await cli("rooms", "mute", "Board", "alice")
    assert ambiguous.returncode == exits.FAILED
    assert "matches 2 callers" in ambiguous.stderr
    for person in stack.tracker.participants(room):
        assert person.channel in ambiguous.stderr and not person.muted

    locked = await cli("rooms", "lock", "Board")
    assert locked.returncode == exits.OK, locked.stderr
    refused = await shared_pbx.sipp.call("800", dtmf="4321#", caller="bob",
                                         password="bob-password-1", wait_for_hangup=True,
                                         tag="lock-refused")  # fmt: skip
    assert refused.ok, refused.log  # the locked prompt, then hung up on
    assert stack.tracker.count(room) == 2

    unlocked = await cli("rooms", "unlock", "Board")
    assert unlocked.returncode == exits.OK, unlocked.stderr
    admitted = _call(shared_pbx, "bob", "lock-admitted")
    await eventually(lambda: stack.tracker.count(room) == 3, what="caller admitted")

    ended = await cli("rooms", "end", "4321")
    assert ended.returncode == exits.OK, ended.stderr
    for call in (first, twin, admitted):
        assert (await asyncio.wait_for(call, 20)).ok
    audit = [e.action for e in await stack.service.audit_log(10)]
    assert audit[:3] == ["call.end", "call.unlock", "call.lock"]


async def test_actions_need_a_running_pbx(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "conference.db", tmp_path / "no-pbx", tmp_path / "data")
    assert (await cli("server", "setup", "--extension", "800")).returncode == exits.OK
    assert (await cli("rooms", "create", "--name", "Board", "--id", "4321")).returncode == 0
    for argv in (("mute", "Board", "alice"), ("kick", "Board", "alice"), ("end", "Board")):
        ran = await cli("rooms", *argv)
        assert ran.returncode == exits.FAILED, ran
        assert "PBX) is not running" in ran.stderr


async def test_only_managers_act_on_a_call_and_refusals_are_audited(
    service: ConferenceService,
) -> None:
    await service.setup_server("800", "test")
    await service.create_room(name="Board", conference_id="4321", actor="test")
    with pytest.raises(errors.NotAllowed, match="owners"):
        await service.kick_caller("Board", "alice", calls=None, actor="U1", role=Role.MEMBER)
    [entry] = [e for e in await service.audit_log(5) if e.actor == "U1"]
    assert entry.action == "room.refused" and "remove callers" in entry.summary


async def test_moderators_mute_all_lock_state_and_recording_from_the_cli(
    shared_pbx: Pbx, make_stack, tmp_path: Path
) -> None:
    stack = await make_stack(shared_pbx)
    room = await stack.service.create_room(name="Board", conference_id="4321",
                                           moderator_pin="9999", actor="test")  # fmt: skip
    cli = Cli(tmp_path / "conference-0.db", shared_pbx.cfg.run_dir, tmp_path / "data")
    moderator = asyncio.create_task(shared_pbx.sipp.call(
        "800", dtmf="4321#9999#", caller="alice", password="alice-password-1",
        wait_for_hangup=True, tag="mod-alice",
    ))  # fmt: skip
    await eventually(lambda: stack.tracker.count(room.id) == 1, what="the moderator in")
    caller = asyncio.create_task(shared_pbx.sipp.call(
        "800", dtmf="4321##", caller="bob", password="bob-password-1", wait_for_hangup=True,
        tag="mod-bob",
    ))  # fmt: skip
    await eventually(lambda: stack.tracker.count(room.id) == 2, what="a participant in")

    listed = await cli("rooms", "participants", "Board", "--json")
    assert listed.returncode == exits.OK, listed.stderr
    by_num = {p["caller_id_num"]: p for p in json.loads(listed.stdout)}
    assert by_num["alice"]["moderator"] is True and by_num["bob"]["moderator"] is False
    for person in by_num.values():
        assert person["talking"] is False and person["muted"] is False
        assert person["room_locked"] is False and person["room_recording"] is False
    table = await cli("rooms", "participants", "Board")
    assert "TALKING" in table.stdout and "MODERATOR" in table.stdout and "NUMBER" in table.stdout

    muted = await cli("rooms", "mute-all", "Board")
    assert muted.returncode == exits.OK, muted.stderr
    assert "1 caller muted" in muted.stdout
    flags = {p.caller_id_num: p.muted for p in stack.tracker.participants(room.id)}
    assert flags == {"alice": False, "bob": True}  # the moderator can still talk
    again = await cli("rooms", "mute-all", "Board")
    assert again.returncode == exits.OK and "Nobody to mute" in again.stdout

    # Lock state as Asterisk lists it (no event says so), in the CLI's tracker and, within
    # its poll, the stack's own (as serve's).
    assert (await cli("rooms", "lock", "Board")).returncode == exits.OK
    await eventually(lambda: stack.tracker.room_state(room.id).locked, timeout=5,
                     what="the lock seen by another process")  # fmt: skip
    listed = await cli("rooms", "participants", "Board", "--json")
    assert all(p["room_locked"] for p in json.loads(listed.stdout))
    assert "the call is locked" in (await cli("rooms", "participants", "Board")).stdout
    assert (await cli("rooms", "unlock", "Board")).returncode == exits.OK
    await stack.actions.lock(room, True)  # by this process: known at once
    assert stack.tracker.room_state(room.id).locked
    await stack.actions.lock(room, False)
    assert not stack.tracker.room_state(room.id).locked

    # Recording started by one process (the CLI) and followed by another (the stack, as
    # serve): it learns the file from AstDB and reports it when the recording stops.
    started = await cli("rooms", "record", "Board", "start")
    assert started.returncode == exits.OK, started.stderr
    path = started.stdout.strip().rsplit(": ", 1)[1]
    assert path.startswith(str(shared_pbx.cfg.recordings_dir))
    await eventually(lambda: stack.tracker.recording_file(room.id) == path,
                     what="the stack's tracker knows the file")  # fmt: skip
    listed = await cli("rooms", "participants", "Board", "--json")
    assert all(p["room_recording"] for p in json.loads(listed.stdout))
    twice = await cli("rooms", "record", "Board", "start")
    assert twice.returncode == exits.FAILED and "already being recorded" in twice.stderr
    stopped = await cli("rooms", "record", "Board", "stop")
    assert stopped.returncode == exits.OK, stopped.stderr
    assert stopped.stdout.strip().endswith(path)
    await eventually(lambda: RecordingStopped(room.id, path) in stack.updates,
                     what="RecordingStopped in the stack")  # fmt: skip
    assert not stack.tracker.room_state(room.id).recording
    [row] = await stack.service.recordings_of(room.id)
    assert row.status is RecordingStatus.STOPPED and row.started_by.startswith("cli:")

    assert (await cli("rooms", "end", "Board")).returncode == exits.OK
    for call in (moderator, caller):
        assert (await asyncio.wait_for(call, 20)).ok
    audit = [e.action for e in await stack.service.audit_log(10) if e.actor.startswith("cli:")]
    assert audit[:6] == ["call.end", "call.record_stop", "call.record_start", "call.unlock",
                         "call.lock", "call.mute_others"]  # fmt: skip


async def test_record_and_mute_all_need_a_manager(service: ConferenceService) -> None:
    await service.setup_server("800", "test")
    await service.create_room(name="Board", conference_id="4321", actor="test")
    with pytest.raises(errors.NotAllowed):
        await service.record_call("Board", True, calls=None, actor="U1", role=Role.MEMBER)
    with pytest.raises(errors.NotAllowed):
        await service.mute_others("Board", calls=None, actor="U1", role=Role.MEMBER)
    with pytest.raises(errors.PbxUnavailable):
        await service.record_call("Board", True, calls=None, actor="admin")
    refused = [e.summary for e in await service.audit_log(5) if e.actor == "U1"]
    assert len(refused) == 2
