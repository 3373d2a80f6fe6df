"""The repository's queries of one-time browser links (issue 12). A mixin of
``queries.Repository``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.models import Room, WebLink
from bot.repository.statements import Statements

_WEB_LINK_COLUMNS = (
    "id, link_id, room_id, room_name, slack_user, name, trusted, created_at, expires_at,"
    " used_at, revoked_at"
)


def _web_link(row: Sequence[Any]) -> WebLink:
    values = list(row)
    values[6] = bool(values[6])
    return WebLink(*values)


class WebLinkQueries(Statements):
    """One-time browser links: issued, redeemed once, revoked."""

    async def insert_web_link(
        self, *, link_id: str, token_hash: str, room: Room, slack_user: str, name: str,
        trusted: bool, now: str, expires_at: str,
    ) -> WebLink:  # fmt: skip
        row_id = await self._exec(
            "INSERT INTO web_links (link_id, token_hash, room_id, room_name, slack_user, name,"
            " trusted, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (link_id, token_hash, room.id, room.name, slack_user, name, int(trusted), now,
             expires_at),
        )  # fmt: skip
        row = await self._one(f"SELECT {_WEB_LINK_COLUMNS} FROM web_links WHERE id = ?", (row_id,))
        return _web_link(row)

    async def web_link_by_token(self, token_hash: str) -> WebLink | None:
        row = await self._one(
            f"SELECT {_WEB_LINK_COLUMNS} FROM web_links WHERE token_hash = ?", (token_hash,)
        )
        return _web_link(row) if row else None

    async def web_link(self, link_id: str) -> WebLink | None:
        row = await self._one(
            f"SELECT {_WEB_LINK_COLUMNS} FROM web_links WHERE link_id = ?", (link_id,)
        )
        return _web_link(row) if row else None

    async def use_web_link(self, token_hash: str, *, now: str) -> bool:
        """Mark the link used; False when it was used, revoked or expired first (two tabs
        opening it at once: one wins)."""
        async with self._conn.execute(
            "UPDATE web_links SET used_at = ? WHERE token_hash = ? AND used_at IS NULL"
            " AND revoked_at IS NULL AND expires_at > ?",
            (now, token_hash, now),
        ) as cur:
            return cur.rowcount > 0

    async def web_links_to_revoke(self, *, now: str) -> list[WebLink]:
        """Expired links whose credentials may still be in the PBX."""
        rows = await self._all(
            f"SELECT {_WEB_LINK_COLUMNS} FROM web_links WHERE revoked_at IS NULL"
            " AND expires_at <= ? ORDER BY id",
            (now,),
        )
        return [_web_link(r) for r in rows]

    async def live_web_link_ids(self) -> set[str]:
        """Link ids whose credentials may still be in the PBX (not revoked)."""
        rows = await self._all("SELECT link_id FROM web_links WHERE revoked_at IS NULL")
        return {str(r[0]) for r in rows}

    async def set_web_link_revoked(self, link_id: str, *, now: str) -> None:
        await self._exec(
            "UPDATE web_links SET revoked_at = ? WHERE link_id = ? AND revoked_at IS NULL",
            (now, link_id),
        )
