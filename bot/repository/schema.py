"""The database file's schema and how an opened file gets there.

``connect`` opens a file the way every process must: trusted first (``dbfile``: a regular
file of ours, no links), then checked by SQLite (``PRAGMA quick_check``), refused if a newer
conference-bot wrote it, and upgraded in place by the forward-only ``MIGRATIONS``, all in one
``BEGIN IMMEDIATE`` so two processes never migrate at once.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import NoReturn

import aiosqlite

from bot.errors import SchemaTooNew
from bot.repository import dbfile

# Forward-only migrations; index + 1 is the schema version they produce.
# Never edit a released step: add a new one.
MIGRATIONS: tuple[str, ...] = (
    # 1: server, rooms, deletion requests, audit log
    """
    CREATE TABLE server (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        extension TEXT NOT NULL,
        phone_number TEXT,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_by TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE rooms (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        name_key TEXT NOT NULL UNIQUE,
        conference_id TEXT NOT NULL UNIQUE,
        pin TEXT,
        max_participants INTEGER NOT NULL DEFAULT 10
            CHECK (max_participants BETWEEN 1 AND 10),
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_by TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE deletion_requests (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        room_id INTEGER REFERENCES rooms(id) ON DELETE SET NULL,
        room_name TEXT NOT NULL,
        conference_id TEXT NOT NULL,
        requester TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'approved', 'denied', 'cancelled')),
        created_at TEXT NOT NULL,
        decided_by TEXT,
        decided_at TEXT
    );
    CREATE UNIQUE INDEX one_pending_request_per_room
        ON deletion_requests(room_id) WHERE status = 'pending';
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        summary TEXT NOT NULL,
        before_json TEXT,
        after_json TEXT
    );
    """,
    # 2: prompt language per room
    """
    ALTER TABLE rooms ADD COLUMN language TEXT NOT NULL DEFAULT 'en'
        CHECK (language IN ('en', 'es'));
    """,
    # 3: Slack messages showing a room live (dial-in cards), so they update after a restart
    """
    CREATE TABLE slack_cards (
        channel TEXT NOT NULL,
        ts TEXT NOT NULL,
        room_id INTEGER NOT NULL,
        include_pin INTEGER NOT NULL DEFAULT 0,
        posted_by TEXT NOT NULL,
        posted_at TEXT NOT NULL,
        PRIMARY KEY (channel, ts)
    );
    CREATE INDEX slack_cards_room ON slack_cards(room_id);
    """,
    # 4: room owners; a room created from Slack is owned by its creator, the others by the
    # admins alone (rooms.created_by is what the audit log's room.create line names)
    """
    CREATE TABLE room_owners (
        room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
        owner TEXT NOT NULL,
        added_by TEXT NOT NULL,
        added_at TEXT NOT NULL,
        PRIMARY KEY (room_id, owner)
    );
    INSERT INTO room_owners (room_id, owner, added_by, added_at)
        SELECT id, created_by, 'migration', created_at FROM rooms
        WHERE created_by LIKE 'slack:%';
    """,
    # 5: running the call (issue 11): a room's moderator PIN and call options; recordings
    # (uploaded to Slack once stopped); callers waiting in a room's lobby for an owner
    """
    ALTER TABLE rooms ADD COLUMN moderator_pin TEXT;
    ALTER TABLE rooms ADD COLUMN wait_for_moderator INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE rooms ADD COLUMN end_with_moderator INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE rooms ADD COLUMN start_muted INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE rooms ADD COLUMN lobby INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE rooms ADD COLUMN join_notes INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE recordings (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        room_id INTEGER REFERENCES rooms(id) ON DELETE SET NULL,
        room_name TEXT NOT NULL,
        path TEXT NOT NULL UNIQUE,
        started_by TEXT NOT NULL,
        started_at TEXT NOT NULL,
        stopped_by TEXT,
        stopped_at TEXT,
        status TEXT NOT NULL DEFAULT 'recording'
            CHECK (status IN ('recording', 'stopped', 'uploaded', 'failed', 'deleted')),
        channel TEXT,
        file_id TEXT,
        uploaded_at TEXT,
        error TEXT
    );
    CREATE INDEX recordings_room ON recordings(room_id);
    CREATE TABLE lobby_requests (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        room_id INTEGER REFERENCES rooms(id) ON DELETE CASCADE,
        room_name TEXT NOT NULL,
        uniqueid TEXT NOT NULL UNIQUE,
        caller_number TEXT NOT NULL DEFAULT '',
        caller_name TEXT NOT NULL DEFAULT '',
        endpoint TEXT NOT NULL DEFAULT '',
        channel TEXT,
        ts TEXT,
        status TEXT NOT NULL DEFAULT 'waiting'
            CHECK (status IN ('waiting', 'admitted', 'refused', 'timeout', 'left')),
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        decided_by TEXT,
        decided_at TEXT
    );
    CREATE INDEX lobby_requests_waiting ON lobby_requests(status);
    """,
    # 6: one-time links to join a room from the browser (issue 12); the token is stored
    # hashed, the SIP credentials it unlocks live in the PBX until the join or the expiry
    """
    CREATE TABLE web_links (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        link_id TEXT NOT NULL UNIQUE,
        token_hash TEXT NOT NULL UNIQUE,
        room_id INTEGER REFERENCES rooms(id) ON DELETE SET NULL,
        room_name TEXT NOT NULL,
        slack_user TEXT NOT NULL,
        name TEXT NOT NULL,
        trusted INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        used_at TEXT,
        revoked_at TEXT
    );
    CREATE INDEX web_links_live ON web_links(revoked_at);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)

log = logging.getLogger(__name__)


def _raise_for_file(path: Path, exc: sqlite3.Error) -> NoReturn:
    """Re-raise ``exc`` as the reason a person can act on when it is about the file."""
    problem = dbfile.explain_sqlite(path, exc)
    if problem is None:
        raise exc
    raise problem from exc


async def _check_integrity(conn: aiosqlite.Connection, path: Path) -> None:
    async with conn.execute("PRAGMA quick_check") as cur:
        rows = [str(row[0]) for row in await cur.fetchall()]
    if rows != ["ok"]:
        detail = " ".join(" ".join(rows).split())
        raise dbfile.damaged(path, detail if len(detail) <= 200 else detail[:199] + "…")


async def schema_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def _refuse_newer(conn: aiosqlite.Connection, path: Path) -> int:
    """The file's schema version; ``SchemaTooNew`` if a newer conference-bot wrote it."""
    current = await schema_version(conn)
    if current > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"{path} was written by a newer conference-bot (schema {current}, "
            f"this one knows {SCHEMA_VERSION}); it was left as it is. Upgrade conference-bot."
        )
    return current


async def _migrate(conn: aiosqlite.Connection, path: Path, target: int) -> None:
    await conn.execute("BEGIN IMMEDIATE")
    try:
        current = await _refuse_newer(conn, path)
        for version in range(current + 1, target + 1):
            for statement in MIGRATIONS[version - 1].split(";"):
                if statement.strip():
                    await conn.execute(statement)
            await conn.execute(f"PRAGMA user_version = {version}")
        await conn.execute("COMMIT")
    except BaseException:
        await conn.execute("ROLLBACK")
        raise


async def connect(
    path: Path, *, target_version: int = SCHEMA_VERSION, warn: dbfile.Warn | None = None
) -> aiosqlite.Connection:
    """A connection to the database at ``path`` (created if missing), its schema upgraded.

    Raises ``DatabaseUnusable``, having written nothing, for a path that is not a regular
    file (links are not followed), a file SQLite finds damaged (``PRAGMA quick_check``) or a
    newer schema (``SchemaTooNew``). ``warn`` hears of loose file modes (default: log).
    """
    identity = dbfile.prepare(path)
    try:
        conn = await aiosqlite.connect(path, isolation_level=None, timeout=30)
    except sqlite3.Error as exc:
        _raise_for_file(path, exc)
    try:
        dbfile.still_same(path, identity)
        await conn.execute("PRAGMA busy_timeout = 30000")
        # Both before anything writes (setting WAL mode rewrites the header):
        await _check_integrity(conn, path)
        await _refuse_newer(conn, path)
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA foreign_keys = ON")
        await _migrate(conn, path, target_version)
        dbfile.check_modes(path, warn or log.warning)
    except sqlite3.Error as exc:
        await conn.close()
        _raise_for_file(path, exc)
    except BaseException:
        await conn.close()  # else its thread keeps the process from exiting
        raise
    return conn
