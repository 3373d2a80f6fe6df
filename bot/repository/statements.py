"""What every part of the repository runs its SQL with: one connection, three helpers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiosqlite


class Statements:
    """The connection and the statement helpers the repository's query mixins share."""

    _conn: aiosqlite.Connection

    async def _one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        async with self._conn.execute(sql, args) as cur:
            return await cur.fetchone()

    async def _all(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        async with self._conn.execute(sql, args) as cur:
            return list(await cur.fetchall())

    async def _exec(self, sql: str, args: Sequence[Any] = ()) -> int:
        async with self._conn.execute(sql, args) as cur:
            return cur.lastrowid or 0
