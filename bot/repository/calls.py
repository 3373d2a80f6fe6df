"""The repository's queries of a live call's records: recordings (issue 11) and callers
waiting in a room's lobby. A mixin of ``queries.Repository``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.models import LobbyRequest, LobbyStatus, Recording, RecordingStatus, Room
from bot.repository.statements import Statements

_RECORDING_COLUMNS = (
    "id, room_id, room_name, path, started_by, started_at, stopped_by, stopped_at, status,"
    " channel, file_id, uploaded_at, error"
)


def _recording(row: Sequence[Any]) -> Recording:
    values = list(row)
    values[8] = RecordingStatus(values[8])
    return Recording(*values)


_LOBBY_COLUMNS = (
    "id, room_id, room_name, uniqueid, caller_number, caller_name, endpoint, channel, ts,"
    " status, created_at, expires_at, decided_by, decided_at"
)


def _lobby(row: Sequence[Any]) -> LobbyRequest:
    values = list(row)
    values[9] = LobbyStatus(values[9])
    return LobbyRequest(*values)


class RecordingQueries(Statements):
    """Each recording of a call: started, stopped, uploaded or failed, deleted."""

    async def insert_recording(
        self, *, room_id: int, room_name: str, path: str, started_by: str, started_at: str
    ) -> int:
        return await self._exec(
            "INSERT INTO recordings (room_id, room_name, path, started_by, started_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (room_id, room_name, path, started_by, started_at),
        )

    async def recording_by_id(self, recording_id: int) -> Recording | None:
        row = await self._one(f"SELECT {_RECORDING_COLUMNS} FROM recordings WHERE id = ?",
                              (recording_id,))  # fmt: skip
        return _recording(row) if row else None

    async def recording_by_path(self, path: str) -> Recording | None:
        row = await self._one(f"SELECT {_RECORDING_COLUMNS} FROM recordings WHERE path = ?",
                              (path,))  # fmt: skip
        return _recording(row) if row else None

    async def list_recordings(
        self,
        *,
        room_id: int | None = None,
        status: RecordingStatus | None = None,
        orphaned: bool = False,
    ) -> list[Recording]:
        """Oldest first; of one room (``orphaned``: of rooms since deleted) and/or in one
        status."""
        where: list[str] = []
        args: list[Any] = []
        if orphaned:
            where.append("room_id IS NULL")
        if room_id is not None:
            where.append("room_id = ?")
            args.append(room_id)
        if status is not None:
            where.append("status = ?")
            args.append(status.value)
        sql = f"SELECT {_RECORDING_COLUMNS} FROM recordings"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [_recording(r) for r in await self._all(sql + " ORDER BY id", args)]

    async def stop_recording(self, recording_id: int, *, stopped_by: str | None,
                             stopped_at: str) -> None:  # fmt: skip
        """Stopped (if it was recording); the first stop time stays, and who stopped it
        is filled in if it was not known yet."""
        await self._exec(
            "UPDATE recordings SET"
            " status = CASE WHEN status = 'recording' THEN 'stopped' ELSE status END,"
            " stopped_at = COALESCE(stopped_at, ?), stopped_by = COALESCE(stopped_by, ?)"
            " WHERE id = ?",
            (stopped_at, stopped_by, recording_id),
        )

    async def set_recording_uploaded(self, recording_id: int, *, channel: str, file_id: str,
                                     uploaded_at: str) -> None:  # fmt: skip
        await self._exec(
            "UPDATE recordings SET status = 'uploaded', channel = ?, file_id = ?,"
            " uploaded_at = ?, error = NULL WHERE id = ?",
            (channel, file_id, uploaded_at, recording_id),
        )

    async def set_recording_status(
        self, recording_id: int, status: RecordingStatus, *, error: str | None = None
    ) -> None:
        await self._exec(
            "UPDATE recordings SET status = ?, error = ? WHERE id = ?",
            (status.value, error, recording_id),
        )


class LobbyQueries(Statements):
    """One row per caller who waited in a lobby, and the decision on it."""

    async def insert_lobby_request(
        self, *, room: Room, uniqueid: str, caller_number: str, caller_name: str,
        endpoint: str, now: str, expires_at: str,
    ) -> LobbyRequest:  # fmt: skip
        """The request of the caller on channel ``uniqueid``: inserted, or the one already
        there (an arrival read back after a reconnect is the same caller)."""
        await self._exec(
            "INSERT OR IGNORE INTO lobby_requests (room_id, room_name, uniqueid, caller_number,"
            " caller_name, endpoint, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (room.id, room.name, uniqueid, caller_number, caller_name, endpoint, now,
             expires_at),
        )  # fmt: skip
        found = await self.lobby_request_by_uniqueid(uniqueid)
        assert found is not None
        return found

    async def lobby_request(self, request_id: int) -> LobbyRequest | None:
        row = await self._one(
            f"SELECT {_LOBBY_COLUMNS} FROM lobby_requests WHERE id = ?", (request_id,)
        )
        return _lobby(row) if row else None

    async def lobby_request_by_uniqueid(self, uniqueid: str) -> LobbyRequest | None:
        row = await self._one(
            f"SELECT {_LOBBY_COLUMNS} FROM lobby_requests WHERE uniqueid = ?", (uniqueid,)
        )
        return _lobby(row) if row else None

    async def waiting_lobby_requests(self) -> list[LobbyRequest]:
        rows = await self._all(
            f"SELECT {_LOBBY_COLUMNS} FROM lobby_requests WHERE status = 'waiting' ORDER BY id"
        )
        return [_lobby(r) for r in rows]

    async def set_lobby_message(self, request_id: int, channel: str, ts: str) -> None:
        await self._exec(
            "UPDATE lobby_requests SET channel = ?, ts = ? WHERE id = ?", (channel, ts, request_id)
        )

    async def claim_lobby_decision(self, request_id: int, *, actor: str, now: str) -> bool:
        """Mark the request decided by ``actor``; False when it was decided or ended first
        (two owners clicking at once: one wins)."""
        async with self._conn.execute(
            "UPDATE lobby_requests SET decided_by = ?, decided_at = ?"
            " WHERE id = ? AND status = 'waiting' AND decided_by IS NULL",
            (actor, now, request_id),
        ) as cur:
            return cur.rowcount > 0

    async def release_lobby_decision(self, request_id: int) -> None:
        """Undo a claim the PBX did not carry out."""
        await self._exec(
            "UPDATE lobby_requests SET decided_by = NULL, decided_at = NULL"
            " WHERE id = ? AND status = 'waiting'",
            (request_id,),
        )

    async def lobby_decision_audited(self, actor: str, since: str, caller: str) -> str | None:
        """The first lobby decision ``actor`` made about ``caller`` from ``since`` on:
        ``lobby.admit``, ``lobby.refuse`` or None."""
        row = await self._one(
            "SELECT action FROM audit_log WHERE actor = ? AND at >= ?"
            " AND action IN ('lobby.admit', 'lobby.refuse') AND instr(summary, ?) > 0"
            " ORDER BY id LIMIT 1",
            (actor, since, f"caller {caller} waiting"),
        )
        return str(row[0]) if row else None

    async def finish_lobby_request(self, uniqueid: str, status: LobbyStatus, *, now: str) -> bool:
        """The caller stopped waiting; False when the request was not waiting."""
        async with self._conn.execute(
            "UPDATE lobby_requests SET status = ?, decided_at = COALESCE(decided_at, ?)"
            " WHERE uniqueid = ? AND status = 'waiting'",
            (status.value, now, uniqueid),
        ) as cur:
            return cur.rowcount > 0
