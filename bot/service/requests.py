"""Deletion requests: members ask, an admin approves (the room is deleted in the same
transaction) or denies; the requester may cancel."""

from __future__ import annotations

from collections.abc import Callable

from bot import errors
from bot.changes import RoomChange
from bot.models import DeletionRequest, RequestStatus, Role, Room
from bot.repository import Repository
from bot.rules import clean_reason
from bot.service.access import AccessMixin
from bot.service.audit_text import audit_view, room_summary
from bot.service.base import now_iso


class RequestsMixin(AccessMixin):
    """Deletion requests and their decisions."""

    async def request_deletion(
        self, ref: str | int, *, requester: str, reason: str = "", role: Role = Role.MEMBER
    ) -> DeletionRequest:
        """File a request to delete a room; an admin approves or denies it. Not for guests."""
        await self.refuse_guest(requester, role, "ask to delete rooms", "room")
        why = clean_reason(reason)
        async with self.repo.write() as repo:
            room = await self._find(repo, ref)
            pending = await repo.pending_request_for_room(room.id)
            if pending:
                raise errors.DeletionAlreadyPending(
                    f'Room "{room.name}" already has a deletion request waiting for an admin '
                    f"(#{pending.id}, filed by {pending.requester}). Wait for their decision."
                )
            request_id = await repo.insert_request(
                room=room, requester=requester, reason=why, now=now_iso()
            )
            await self._audit(
                requester,
                "deletion.request",
                room.name,
                f'Asked to delete room "{room.name}" (request #{request_id})'
                + (f": {why}" if why else ""),
            )
            request = await repo.get_request(request_id)
        assert request is not None
        return request

    async def get_request(self, request_id: int) -> DeletionRequest:
        async with self.repo.read() as repo:
            request = await repo.get_request(request_id)
        if request is None:
            raise errors.RequestNotFound(f"There is no deletion request #{request_id}.")
        return request

    async def list_requests(self, status: RequestStatus | None = None) -> list[DeletionRequest]:
        async with self.repo.read() as repo:
            return await repo.list_requests(status)

    async def _pending(self, repo: Repository, request_id: int) -> DeletionRequest:
        request = await repo.get_request(request_id)
        if request is None:
            raise errors.RequestNotFound(f"There is no deletion request #{request_id}.")
        if request.status is not RequestStatus.PENDING:
            raise errors.RequestAlreadyDecided(
                f"Deletion request #{request.id} was already {request.status.value}"
                + (f" by {request.decided_by}" if request.decided_by else "")
                + "."
            )
        return request

    async def approve_deletion(
        self, request_id: int, *, admin: str
    ) -> tuple[DeletionRequest, Room]:
        """Approve a pending request and delete its room, in one transaction."""
        async with self.repo.write() as repo:
            request = await self._pending(repo, request_id)
            room = await repo.room_by_id(request.room_id) if request.room_id else None
            if room is None:
                raise errors.RoomGone(
                    f'Room "{request.room_name}" no longer exists, so request #{request.id} '
                    "cannot be approved."
                )
            now = now_iso()
            await repo.decide_request(
                request.id, status=RequestStatus.APPROVED, actor=admin, now=now
            )
            await repo.delete_room(room.id)
            await self._audit(
                admin,
                "room.delete",
                room.name,
                f"Approved request #{request.id} from {request.requester}; "
                f"deleted {room_summary(room)}",
                audit_view(room),
                None,
            )
            decided = await repo.get_request(request.id)
        assert decided is not None
        await self._notify_room(RoomChange("deleted", room))
        return decided, room

    async def deny_deletion(self, request_id: int, *, admin: str) -> DeletionRequest:
        return await self._close(
            request_id,
            RequestStatus.DENIED,
            admin,
            "deletion.deny",
            lambda r: f'Denied request #{r.id} from {r.requester} to delete room "{r.room_name}"',
        )

    async def cancel_deletion(self, request_id: int, *, actor: str) -> DeletionRequest:
        return await self._close(
            request_id,
            RequestStatus.CANCELLED,
            actor,
            "deletion.cancel",
            lambda r: f"Cancelled deletion request #{r.id}",
        )

    async def _close(
        self,
        request_id: int,
        status: RequestStatus,
        actor: str,
        action: str,
        summary: Callable[[DeletionRequest], str],
    ) -> DeletionRequest:
        """Decide a pending request without deleting its room (denied or cancelled)."""
        async with self.repo.write() as repo:
            request = await self._pending(repo, request_id)
            await repo.decide_request(request.id, status=status, actor=actor, now=now_iso())
            await self._audit(actor, action, request.room_name, summary(request))
            decided = await repo.get_request(request.id)
        assert decided is not None
        return decided
