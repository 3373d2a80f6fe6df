"""The repository: one SQLite connection, its transactions and every query.

Opening the file and its schema are in ``bot.repository.schema``; the queries of a live
call's records (recordings, lobby requests) are in ``calls`` and those of browser links in
``weblinks``, mixins over ``statements``; together they hold all the SQL there is.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from bot.models import (
    AuditEntry,
    DeletionRequest,
    RequestStatus,
    Room,
    RoomOwner,
    Server,
    SlackCard,
)
from bot.repository import dbfile, schema
from bot.repository.calls import LobbyQueries, RecordingQueries
from bot.repository.weblinks import WebLinkQueries

_ROOM_COLUMNS = (
    "id, name, conference_id, pin, max_participants, language,"
    " created_by, created_at, updated_by, updated_at, moderator_pin, wait_for_moderator,"
    " end_with_moderator, start_muted, lobby, join_notes"
)
# The call options, as columns (stored 0/1) and as ``Room`` fields.
ROOM_OPTIONS = ("wait_for_moderator", "end_with_moderator", "start_muted", "lobby", "join_notes")
_REQUEST_COLUMNS = (
    "id, room_id, room_name, conference_id, requester, reason, status,"
    " created_at, decided_by, decided_at"
)


def _room(row: Sequence[Any]) -> Room:
    values = list(row)
    for i in range(11, 16):
        values[i] = bool(values[i])
    return Room(*values)


def _request(row: Sequence[Any]) -> DeletionRequest:
    values = list(row)
    values[6] = RequestStatus(values[6])
    return DeletionRequest(*values)


def _server(row: Sequence[Any]) -> Server:
    return Server(*row)


class Repository(RecordingQueries, LobbyQueries, WebLinkQueries):
    """One SQLite connection; every statement goes through here.

    Writes run inside ``write()`` (``BEGIN IMMEDIATE``), so rules checked inside one hold
    across processes. An asyncio lock keeps coroutines sharing this connection from
    interleaving their transactions.
    """

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self._lock = asyncio.Lock()

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        target_version: int = schema.SCHEMA_VERSION,
        warn: dbfile.Warn | None = None,
    ) -> Repository:
        """Open the database at ``path`` (created if missing) and upgrade its schema.

        Raises ``DatabaseUnusable``, having written nothing, for a path that is not a
        regular file (links are not followed), a file SQLite finds damaged (``PRAGMA
        quick_check``) or a newer schema. ``warn`` hears of loose file modes (default: log).
        """
        return cls(await schema.connect(path, target_version=target_version, warn=warn), path)

    async def close(self) -> None:
        await self._conn.close()

    async def data_version(self) -> int:
        """SQLite's ``PRAGMA data_version``: it changes when another connection commits."""
        row = await self._one("PRAGMA data_version")
        return int(row[0])

    async def schema_version(self) -> int:
        return await schema.schema_version(self._conn)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Repository]:
        """A write transaction holding SQLite's write lock from its first statement."""
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Repository]:
        async with self._lock:
            yield self

    # -- server ---------------------------------------------------------------------------

    async def get_server(self) -> Server | None:
        row = await self._one(
            "SELECT extension, phone_number, created_by, created_at, updated_by, updated_at"
            " FROM server WHERE id = 1"
        )
        return _server(row) if row else None

    async def insert_server(self, extension: str, actor: str, now: str) -> None:
        await self._exec(
            "INSERT INTO server (id, extension, created_by, created_at, updated_by, updated_at)"
            " VALUES (1, ?, ?, ?, ?, ?)",
            (extension, actor, now, actor, now),
        )

    async def update_server(
        self, *, extension: str, phone_number: str | None, actor: str, now: str
    ) -> None:
        await self._exec(
            "UPDATE server SET extension = ?, phone_number = ?, updated_by = ?, updated_at = ?"
            " WHERE id = 1",
            (extension, phone_number, actor, now),
        )

    async def delete_server(self) -> None:
        await self._exec("DELETE FROM server WHERE id = 1")

    # -- rooms ----------------------------------------------------------------------------

    async def list_rooms(self) -> list[Room]:
        rows = await self._all(f"SELECT {_ROOM_COLUMNS} FROM rooms ORDER BY name_key")
        return [_room(r) for r in rows]

    async def count_rooms(self) -> int:
        row = await self._one("SELECT COUNT(*) FROM rooms")
        return int(row[0])

    async def room_by_id(self, room_id: int) -> Room | None:
        row = await self._one(f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE id = ?", (room_id,))
        return _room(row) if row else None

    async def room_by_conference_id(self, conference_id: str) -> Room | None:
        row = await self._one(
            f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE conference_id = ?", (conference_id,)
        )
        return _room(row) if row else None

    async def room_by_name_key(self, name_key: str) -> Room | None:
        row = await self._one(f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE name_key = ?", (name_key,))
        return _room(row) if row else None

    async def conference_ids(self) -> set[str]:
        return {r[0] for r in await self._all("SELECT conference_id FROM rooms")}

    async def insert_room(
        self,
        *,
        name: str,
        name_key: str,
        conference_id: str,
        pin: str | None,
        max_participants: int,
        language: str,
        actor: str,
        now: str,
        moderator_pin: str | None = None,
        options: dict[str, bool] | None = None,
    ) -> int:
        flags = [int(bool((options or {}).get(name, False))) for name in ROOM_OPTIONS]
        return await self._exec(
            "INSERT INTO rooms (name, name_key, conference_id, pin, max_participants, language,"
            " created_by, created_at, updated_by, updated_at, moderator_pin, "
            + ", ".join(ROOM_OPTIONS)
            + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, name_key, conference_id, pin, max_participants, language, actor, now,
             actor, now, moderator_pin, *flags),
        )  # fmt: skip

    async def update_room(
        self,
        room_id: int,
        *,
        name: str,
        name_key: str,
        conference_id: str,
        pin: str | None,
        max_participants: int,
        language: str,
        actor: str,
        now: str,
        moderator_pin: str | None = None,
        options: dict[str, bool] | None = None,
    ) -> None:
        flags = [int(bool((options or {}).get(name, False))) for name in ROOM_OPTIONS]
        await self._exec(
            "UPDATE rooms SET name = ?, name_key = ?, conference_id = ?, pin = ?,"
            " max_participants = ?, language = ?, updated_by = ?, updated_at = ?,"
            " moderator_pin = ?, " + ", ".join(f"{o} = ?" for o in ROOM_OPTIONS)
            + " WHERE id = ?",
            (name, name_key, conference_id, pin, max_participants, language, actor, now,
             moderator_pin, *flags, room_id),
        )  # fmt: skip

    async def delete_room(self, room_id: int) -> None:
        await self._exec("DELETE FROM rooms WHERE id = ?", (room_id,))

    # -- room owners ----------------------------------------------------------------------

    async def list_owners(self, room_id: int) -> list[RoomOwner]:
        rows = await self._all(
            "SELECT room_id, owner, added_by, added_at FROM room_owners WHERE room_id = ?"
            " ORDER BY added_at, owner",
            (room_id,),
        )
        return [RoomOwner(*r) for r in rows]

    async def is_owner(self, room_id: int, owner: str) -> bool:
        row = await self._one(
            "SELECT 1 FROM room_owners WHERE room_id = ? AND owner = ?", (room_id, owner)
        )
        return row is not None

    async def add_owner(self, room_id: int, owner: str, *, actor: str, now: str) -> bool:
        """False when ``owner`` already owns the room."""
        async with self._conn.execute(
            "INSERT OR IGNORE INTO room_owners (room_id, owner, added_by, added_at)"
            " VALUES (?, ?, ?, ?)",
            (room_id, owner, actor, now),
        ) as cur:
            return cur.rowcount > 0

    async def remove_owner(self, room_id: int, owner: str) -> bool:
        """False when ``owner`` did not own the room."""
        async with self._conn.execute(
            "DELETE FROM room_owners WHERE room_id = ? AND owner = ?", (room_id, owner)
        ) as cur:
            return cur.rowcount > 0

    # -- deletion requests ----------------------------------------------------------------

    async def insert_request(self, *, room: Room, requester: str, reason: str, now: str) -> int:
        return await self._exec(
            "INSERT INTO deletion_requests (room_id, room_name, conference_id, requester,"
            " reason, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (room.id, room.name, room.conference_id, requester, reason, now),
        )

    async def get_request(self, request_id: int) -> DeletionRequest | None:
        row = await self._one(
            f"SELECT {_REQUEST_COLUMNS} FROM deletion_requests WHERE id = ?", (request_id,)
        )
        return _request(row) if row else None

    async def pending_request_for_room(self, room_id: int) -> DeletionRequest | None:
        row = await self._one(
            f"SELECT {_REQUEST_COLUMNS} FROM deletion_requests"
            " WHERE room_id = ? AND status = 'pending'",
            (room_id,),
        )
        return _request(row) if row else None

    async def list_requests(self, status: RequestStatus | None = None) -> list[DeletionRequest]:
        if status is None:
            rows = await self._all(
                f"SELECT {_REQUEST_COLUMNS} FROM deletion_requests ORDER BY id DESC"
            )
        else:
            rows = await self._all(
                f"SELECT {_REQUEST_COLUMNS} FROM deletion_requests WHERE status = ?"
                " ORDER BY id DESC",
                (status.value,),
            )
        return [_request(r) for r in rows]

    async def decide_request(
        self, request_id: int, *, status: RequestStatus, actor: str, now: str
    ) -> None:
        await self._exec(
            "UPDATE deletion_requests SET status = ?, decided_by = ?, decided_at = ? WHERE id = ?",
            (status.value, actor, now, request_id),
        )

    async def cancel_pending_for_room(self, room_id: int, *, actor: str, now: str) -> None:
        await self._exec(
            "UPDATE deletion_requests SET status = 'cancelled', decided_by = ?, decided_at = ?"
            " WHERE room_id = ? AND status = 'pending'",
            (actor, now, room_id),
        )

    # -- Slack cards ----------------------------------------------------------------------

    async def insert_card(self, card: SlackCard) -> None:
        await self._exec(
            "INSERT OR REPLACE INTO slack_cards (channel, ts, room_id, include_pin, posted_by,"
            " posted_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                card.channel,
                card.ts,
                card.room_id,
                int(card.include_pin),
                card.posted_by,
                card.posted_at,
            ),
        )

    async def list_cards(self, room_id: int | None = None) -> list[SlackCard]:
        sql = "SELECT channel, ts, room_id, include_pin, posted_by, posted_at FROM slack_cards"
        rows = (
            await self._all(sql + " WHERE room_id = ? ORDER BY rowid", (room_id,))
            if room_id is not None
            else await self._all(sql + " ORDER BY rowid")  # oldest first
        )
        return [SlackCard(r[0], r[1], r[2], bool(r[3]), r[4], r[5]) for r in rows]

    async def card_with_room(self, channel: str, ts: str) -> tuple[SlackCard, Room | None] | None:
        """A card and its room (None if deleted) in one statement, so both come from the same
        commit: the PIN and whether this card may show it always match."""
        room_columns = ", ".join(f"r.{c.strip()}" for c in _ROOM_COLUMNS.split(","))
        row = await self._one(
            "SELECT c.channel, c.ts, c.room_id, c.include_pin, c.posted_by, c.posted_at, "
            f"{room_columns} FROM slack_cards c LEFT JOIN rooms r ON r.id = c.room_id"
            " WHERE c.channel = ? AND c.ts = ?",
            (channel, ts),
        )
        if row is None:
            return None
        card = SlackCard(row[0], row[1], row[2], bool(row[3]), row[4], row[5])
        return card, (_room(row[6:]) if row[6] is not None else None)

    async def clear_card_pins(self, room_id: int) -> int:
        async with self._conn.execute(
            "UPDATE slack_cards SET include_pin = 0 WHERE room_id = ? AND include_pin = 1",
            (room_id,),
        ) as cur:
            return cur.rowcount

    async def delete_card(self, channel: str, ts: str) -> None:
        await self._exec("DELETE FROM slack_cards WHERE channel = ? AND ts = ?", (channel, ts))

    # -- audit ----------------------------------------------------------------------------

    async def insert_audit(
        self,
        *,
        at: str,
        actor: str,
        action: str,
        target: str,
        summary: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        await self._exec(
            "INSERT INTO audit_log (at, actor, action, target, summary, before_json, after_json)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                at,
                actor,
                action,
                target,
                summary,
                json.dumps(before, sort_keys=True) if before is not None else None,
                json.dumps(after, sort_keys=True) if after is not None else None,
            ),
        )

    async def list_audit(self, limit: int) -> list[AuditEntry]:
        rows = await self._all(
            "SELECT id, at, actor, action, target, summary, before_json, after_json"
            " FROM audit_log ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [
            AuditEntry(
                id=r[0],
                at=r[1],
                actor=r[2],
                action=r[3],
                target=r[4],
                summary=r[5],
                before=json.loads(r[6]) if r[6] else None,
                after=json.loads(r[7]) if r[7] else None,
            )
            for r in rows
        ]


def is_unique_violation(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)
