from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from bot.errors import SchemaTooNew
from bot.repository import SCHEMA_VERSION, Repository
from bot.service import ConferenceService


async def test_new_file_is_private_wal_and_current(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "conference.db"
    repo = await Repository.open(path)
    try:
        assert await repo.schema_version() == SCHEMA_VERSION
        service = ConferenceService(repo)
        await service.setup_server("800", "t")
        await service.create_room(name="A", conference_id="123", pin="1234", actor="t")
        for file in path.parent.iterdir():
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    finally:
        await repo.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_loose_permissions_are_reported_not_changed(tmp_path: Path) -> None:
    """Only files this program created get their mode set (issue 7, item 13)."""
    path = tmp_path / "conference.db"
    path.touch()
    os.chmod(path, 0o644)
    warnings: list[str] = []
    repo = await Repository.open(path, warn=warnings.append)
    await repo.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert len(warnings) == 1 and f"chmod 600 {path}" in warnings[0]


async def test_version_1_file_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = await Repository.open(path, target_version=1)
    assert await old.schema_version() == 1
    await old.close()
    # Data as the first release wrote it (no language column yet).
    with sqlite3.connect(path) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(rooms)")}
        assert "language" not in columns
        conn.execute(
            "INSERT INTO server VALUES (1, '800', '+15551234567', 'cli:old', 't0', 'cli:old', 't0')"
        )
        conn.execute(
            "INSERT INTO rooms (name, name_key, conference_id, pin, max_participants, created_by,"
            " created_at, updated_by, updated_at)"
            " VALUES ('Sales', 'sales', '4321', '2468', 7, 'cli:old', 't0', 'cli:old', 't0')"
        )
        conn.execute(
            "INSERT INTO deletion_requests (room_id, room_name, conference_id, requester,"
            " reason, created_at) VALUES (1, 'Sales', '4321', 'U1', 'old', 't0')"
        )
        conn.execute(
            "INSERT INTO audit_log (at, actor, action, target, summary)"
            " VALUES ('t0', 'cli:old', 'room.create', 'Sales', 'Created')"
        )

    repo = await Repository.open(path)
    try:
        assert await repo.schema_version() == SCHEMA_VERSION
        service = ConferenceService(repo)
        room = await service.get_room("sales")
        assert (room.conference_id, room.pin, room.max_participants) == ("4321", "2468", 7)
        assert room.language == "en"
        server = await service.require_server()
        assert server.phone_number == "+15551234567"
        [request] = await service.list_requests()
        assert request.reason == "old" and request.room_id == room.id
        assert [e.summary for e in await service.audit_log()] == ["Created"]
        # and the upgraded file takes new data
        await service.update_room("Sales", actor="t", language="es")
        assert (await service.get_room("4321")).language == "es"
    finally:
        await repo.close()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaTooNew, match="newer conference-bot"):
        await Repository.open(path)
