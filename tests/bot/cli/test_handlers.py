"""CLI handlers in-process, where a subprocess cannot show the point: a change racing the
command, live callers from the PBX, a bug while even the log file is out of reach."""

from __future__ import annotations

import io
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from panoramisk.message import Message

from bot.cli import audit
from bot.cli.main import build_parser, main
from bot.cli.output import Context
from bot.config import Settings
from bot.models import Room
from bot.repository import Repository
from bot.service import ConferenceService
from telephony.naming import bridge_name
from telephony.tracker import ParticipantTracker

RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


class RacedService(ConferenceService):
    """Right after the command resolved ROOM, another admin (Slack, a second shell) moves
    conference ID 4321 to a new room: ``race`` runs once, on a separate connection."""

    race: Any = None

    async def get_room(self, ref: str) -> Room:
        room = await super().get_room(ref)
        race, self.race = self.race, None
        if race is not None:
            await race(room)
        return room


@pytest.fixture
async def two_admins(tmp_path: Path):
    db = tmp_path / "conference.db"
    mine, theirs = await Repository.open(db), await Repository.open(db)
    other = ConferenceService(theirs)
    await other.setup_server("800", "slack:U1")
    await other.create_room(name="Sales", conference_id="4321", actor="slack:U1")

    async def renumber_and_reuse(room: Room) -> None:
        await other.update_room(room.id, actor="slack:U2", conference_id="5555")
        await other.create_room(name="Support", conference_id="4321", actor="slack:U2")

    service = RacedService(mine)
    service.race = renumber_and_reuse
    settings = Settings(db, tmp_path / "data", 10, {})
    out, err = io.StringIO(), io.StringIO()
    try:
        yield Context(service, settings, out, err), other
    finally:
        await mine.close()
        await theirs.close()


async def handle(ctx: Context, *argv: str) -> int:
    args = build_parser().parse_args(list(argv))
    return cast(int, await args.handler(ctx, args))


async def test_edit_changes_the_room_it_resolved(two_admins) -> None:
    ctx, other = two_admins
    assert await handle(ctx, "rooms", "edit", "4321", "--max", "3", "--name", "Sales EU") == 0
    sales, support = await other.get_room("5555"), await other.get_room("Support")
    assert (sales.name, sales.max_participants) == ("Sales EU", 3)
    assert (support.conference_id, support.max_participants) == ("4321", 10)


async def test_delete_removes_the_room_it_confirmed(two_admins) -> None:
    ctx, other = two_admins
    assert await handle(ctx, "rooms", "delete", "Sales", "--yes") == 0
    assert [r.name for r in await other.list_rooms()] == ["Support"]
    assert 'Room "Sales" deleted.' in ctx.out.getvalue()


async def test_caller_names_from_the_pbx_are_printed_escaped(tmp_path: Path) -> None:
    repo = await Repository.open(tmp_path / "conference.db")
    try:
        service = ConferenceService(repo)
        await service.setup_server("800", "t")
        room = await service.create_room(name="Sales", conference_id="4321", actor="t")
        tracker = ParticipantTracker()
        # A trunk caller's display name is whatever the far end sends.
        tracker._on_join(Message({
            "Event": "ConfbridgeJoin", "Conference": bridge_name(room.id), "Uniqueid": "17.1",
            "Channel": "PJSIP/trunk-0001\x1b[8m", "CallerIDNum": "+1555\x07",
            "CallerIDName": "\x1b]0;owned\x07Bob\x1b[2J\x9b\u202e", "Muted": "No",
            "Admin": "No", "Timestamp": "1764160000.5",
        }))  # fmt: skip
        live = cast(Any, SimpleNamespace(tracker=tracker))
        out, err = io.StringIO(), io.StringIO()
        ctx = Context(service, Settings(repo.path, tmp_path, 10, {}), out, err, live)
        assert await handle(ctx, "rooms", "participants", "4321") == 0
        text = out.getvalue()
        assert not RAW_CONTROL.search(text), text
        assert "\\x1b]0;owned\\x07Bob\\x1b[2J\\x9b\\u202e <+1555\\x07>" in text
        assert "PJSIP/trunk-0001\\x1b[8m" in text

        out.seek(0), out.truncate()
        assert await handle(ctx, "rooms", "participants", "4321", "--json") == 0
        assert not RAW_CONTROL.search(out.getvalue())
        assert '"\\u001b]0;owned\\u0007Bob' in out.getvalue()
    finally:
        await repo.close()


def _boom(*_: object) -> Any:
    raise RuntimeError("a bug, with a secret 2468 in its message")


def test_a_bug_is_one_line_with_an_id_in_the_log(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CONFERENCE_DB", raising=False)
    monkeypatch.setenv("CONFERENCE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(audit, "cmd_audit", _boom)
    assert main(["audit"]) == 70
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "2468" not in err
    incident = re.search(r"incident ([0-9a-f]{8})", err)
    assert incident and str(tmp_path / "data" / "conference-bot.log") in err
    logged = (tmp_path / "data" / "conference-bot.log").read_text()
    assert f"[{incident[1]}]" in logged and "RuntimeError" in logged and "Traceback" in logged


def test_a_bug_while_the_log_cannot_be_written_is_still_one_line(
    tmp_path, monkeypatch, capsys
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONFERENCE_DATA_DIR", str(blocker / "data"))
    monkeypatch.setenv("CONFERENCE_DB", str(tmp_path / "conference.db"))
    monkeypatch.setattr(audit, "cmd_audit", _boom)
    assert main(["audit"]) == 70
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "2468" not in err
    assert "incident" in err and "RuntimeError" in err and "could not be written" in err
