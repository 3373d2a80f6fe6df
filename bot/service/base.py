"""What every area of the service shares: the repository, the observers, the audit log,
and finding a room or the server inside a transaction.

The areas (``server``, ``rooms``, ``access``, ``requests``, ``cards``) are mixins over this
base; ``bot.service.ConferenceService`` puts them together behind one facade.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from bot import errors
from bot.changes import CardListener, Observer, RoomChange
from bot.models import AuditEntry, Room, Server
from bot.repository import Repository
from bot.rules import DEFAULT_EXTENSION, all_digits, name_key

# One logger for the whole service, whichever area writes the line.
log = logging.getLogger("bot.service")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def no_server() -> errors.ServerNotFound:
    return errors.ServerNotFound(
        "There is no conference server yet. Set one up first "
        f"(CLI: conference-bot server setup --extension {DEFAULT_EXTENSION}; "
        "Slack: /conference setup)."
    )


class ServiceBase:
    """The repository, the observers and the helpers every area uses."""

    def __init__(
        self,
        repo: Repository,
        *,
        max_rooms: int = 10,
        observers: Iterable[Observer] = (),
    ) -> None:
        self.repo = repo
        self.max_rooms = max_rooms
        self._observers = list(observers)
        self._card_listeners: list[CardListener] = []

    def add_observer(self, observer: Observer) -> None:
        self._observers.append(observer)

    def add_card_listener(self, listener: CardListener) -> None:
        """Be told of each dial-in card remembered (live views cap how many they follow)."""
        self._card_listeners.append(listener)

    async def _notify_room(self, change: RoomChange) -> None:
        """Tell every observer; then raise ``ChangeNotApplied`` if one of them (the PBX sync)
        could not carry the change out in time, so no front end reports it as done."""
        pending: errors.ChangeNotApplied | None = None
        for observer in self._observers:
            try:
                await observer.room_changed(change)
            except errors.ChangeNotApplied as exc:
                pending = pending or exc
            except Exception:
                # The change is committed; observers catch up on their own (the PBX sync
                # resyncs on reconnect), so one failing must not undo or hide the change.
                log.exception(
                    "observer %r failed on %s of room %s", observer, change.kind, change.room.id
                )
        if pending is not None:
            raise pending

    async def _notify_server(self, server: Server | None) -> None:
        """As ``_notify_room``, for the server (extension, phone number)."""
        pending: errors.ChangeNotApplied | None = None
        for observer in self._observers:
            try:
                await observer.server_changed(server)
            except errors.ChangeNotApplied as exc:
                pending = pending or exc
            except Exception:
                log.exception("observer %r failed on server change", observer)
        if pending is not None:
            raise pending

    async def _audit(
        self,
        actor: str,
        action: str,
        target: str,
        summary: str,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        await self.repo.insert_audit(
            at=now_iso(),
            actor=actor,
            action=action,
            target=target,
            summary=summary,
            before=before,
            after=after,
        )

    async def record(self, actor: str, action: str, target: str, summary: str) -> None:
        """Audit something that changed nothing, such as a refused approval."""
        async with self.repo.write():
            await self._audit(actor, action, target, summary)

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[Repository]:
        """``repo.write()``; a refusal raised inside is audited once the write is undone."""
        try:
            async with self.repo.write() as repo:
                yield repo
        except errors.NotAllowed as refused:
            if refused.audit is not None:
                await self.record(*refused.audit)
            raise

    async def audit_log(self, limit: int = 50) -> list[AuditEntry]:
        """The latest ``limit`` audit entries, newest first."""
        if limit < 1:
            raise errors.InvalidInput("The audit limit must be at least 1.", field="limit")
        async with self.repo.read() as repo:
            return await repo.list_audit(limit)

    async def _server_in(self, repo: Repository) -> Server:
        server = await repo.get_server()
        if server is None:
            raise no_server()
        return server

    async def _find(self, repo: Repository, ref: str | int) -> Room:
        """A room by name or conference ID (what people type), or by its stable id (an int,
        what front ends keep between steps: it survives renames and re-numbering)."""
        if isinstance(ref, int):
            by_id = await repo.room_by_id(ref)
            if by_id is None:
                raise errors.RoomNotFound(
                    "That room no longer exists; it may have been deleted.", field="room"
                )
            return by_id
        key = ref.strip()
        room = None
        if all_digits(key):
            room = await repo.room_by_conference_id(key)
        if room is None and key:
            room = await repo.room_by_name_key(name_key(key))
        if room is None:
            raise errors.RoomNotFound(
                f'There is no room named or numbered "{key}". '
                "List the rooms to see their names and conference IDs.",
                field="room",
            )
        return room
