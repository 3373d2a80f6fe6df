"""Deletion requests and their decisions (``bot.service.requests``)."""

from __future__ import annotations

import pytest

from bot import errors
from bot.models import RequestStatus
from bot.repository import Repository
from bot.service import ConferenceService
from tests.bot.service.common import ADMIN, make_room


async def test_request_approve_deletes_room(service: ConferenceService) -> None:
    room = await make_room(service)
    request = await service.request_deletion("Sales", requester="U1", reason="done")
    assert request.status is RequestStatus.PENDING
    assert (request.room_id, request.room_name, request.reason) == (room.id, "Sales", "done")
    with pytest.raises(errors.DeletionAlreadyPending, match="already has a deletion request"):
        await service.request_deletion("1234", requester="U2")
    decided, deleted = await service.approve_deletion(request.id, admin="U9")
    assert decided.status is RequestStatus.APPROVED and decided.decided_by == "U9"
    assert decided.decided_at is not None
    assert deleted == room
    assert await service.list_rooms() == []
    with pytest.raises(errors.RequestAlreadyDecided, match="already approved by U9"):
        await service.deny_deletion(request.id, admin="U9")


async def test_request_deny_keeps_room_and_allows_new_request(service: ConferenceService) -> None:
    await make_room(service)
    first = await service.request_deletion("Sales", requester="U1")
    denied = await service.deny_deletion(first.id, admin="U9")
    assert denied.status is RequestStatus.DENIED
    assert len(await service.list_rooms()) == 1
    second = await service.request_deletion("Sales", requester="U1")
    cancelled = await service.cancel_deletion(second.id, actor="U1")
    assert cancelled.status is RequestStatus.CANCELLED


async def test_request_for_deleted_room_cannot_be_approved(service: ConferenceService) -> None:
    await make_room(service)
    request = await service.request_deletion("Sales", requester="U1")
    await service.delete_room("Sales", actor=ADMIN)
    # Deleting the room directly cancels its pending request...
    assert (await service.get_request(request.id)).status is RequestStatus.CANCELLED
    with pytest.raises(errors.RequestAlreadyDecided):
        await service.approve_deletion(request.id, admin="U9")
    with pytest.raises(errors.RequestNotFound):
        await service.approve_deletion(9999, admin="U9")


async def test_approval_race_with_removed_room(
    service: ConferenceService, repo: Repository
) -> None:
    room = await make_room(service)
    request = await service.request_deletion("Sales", requester="U1")
    async with repo.write():  # the room vanishes behind the service's back
        await repo.delete_room(room.id)
    with pytest.raises(errors.RoomGone, match="no longer exists"):
        await service.approve_deletion(request.id, admin="U9")
    assert (await service.get_request(request.id)).status is RequestStatus.PENDING


async def test_request_reason_limit(service: ConferenceService) -> None:
    await make_room(service)
    with pytest.raises(errors.InvalidInput, match="at most 500"):
        await service.request_deletion("Sales", requester="U1", reason="x" * 501)
