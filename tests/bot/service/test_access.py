"""Room owners in the service: who owns a room, who may manage it, and the upgrade that
gives rooms made before owners existed the owners the audit trail names."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import errors
from bot.models import Role
from bot.repository import Repository
from bot.service import ConferenceService


async def test_rooms_from_before_owners_are_owned_by_their_slack_creator_only(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.db"
    old = await Repository.open(path, target_version=3)  # as the previous release wrote it
    ids = {}
    async with old.write() as repo:
        for name, cid, creator in [("Sales", "111", "slack:U1"), ("Board", "222", "cli:root")]:
            # The previous release's columns (later ones added more).
            ids[name] = await repo._exec(
                "INSERT INTO rooms (name, name_key, conference_id, pin, max_participants,"
                " language, created_by, created_at, updated_by, updated_at)"
                " VALUES (?, ?, ?, NULL, 10, 'en', ?, ?, ?, ?)",
                (name, name.lower(), cid, creator, "2026-01-01T00:00:00Z", creator,
                 "2026-01-01T00:00:00Z"),
            )  # fmt: skip
    await old.close()

    upgraded = ConferenceService(await Repository.open(path))
    assert [o.owner for o in await upgraded.owners(ids["Sales"])] == ["slack:U1"]
    assert await upgraded.owners(ids["Board"]) == []
    assert await upgraded.may_manage(ids["Sales"], "slack:U1", Role.MEMBER)
    assert not await upgraded.may_manage(ids["Board"], "slack:U1", Role.MEMBER)
    assert await upgraded.may_manage(ids["Board"], "slack:U1", Role.ADMIN)
    await upgraded.repo.close()


async def test_only_owners_and_admins_edit_and_each_refusal_is_audited(
    service: ConferenceService,
) -> None:
    room = await service.create_room(name="Sales", conference_id="111", actor="slack:UALICE")
    with pytest.raises(errors.NotAllowed, match="Only the owners"):
        await service.update_room(room.id, pin=None, actor="slack:UBOB", role=Role.MEMBER)
    with pytest.raises(errors.NotAllowed):
        await service.update_room(room.id, name="Mine", actor="slack:UALICE", role=Role.GUEST)
    refused = [e for e in await service.audit_log() if e.action == "room.refused"]
    assert [e.actor for e in refused] == ["slack:UALICE", "slack:UBOB"]

    await service.update_room(room.id, name="Sales team", actor="slack:UALICE", role=Role.MEMBER)
    await service.add_owner("Sales team", "<@ubob>", actor="cli:root")
    await service.update_room(room.id, pin="1234", actor="slack:UBOB", role=Role.MEMBER)
    await service.remove_owner(room.id, "UBOB", actor="cli:root")
    with pytest.raises(errors.NotAllowed):
        await service.update_room(room.id, pin=None, actor="slack:UBOB", role=Role.MEMBER)
    assert (await service.get_room_by_id(room.id)).pin == "1234"


async def test_owner_ids_are_checked_and_only_admins_change_owners(
    service: ConferenceService,
) -> None:
    room = await service.create_room(name="Sales", conference_id="111", actor="cli:root")
    with pytest.raises(errors.InvalidInput, match="member ID"):
        await service.add_owner(room.id, "alice", actor="cli:root")
    with pytest.raises(errors.NotAllowed):
        await service.add_owner(room.id, "U0AAA1111", actor="slack:U0AAA1111", role=Role.MEMBER)
    await service.add_owner(room.id, "U0AAA1111", actor="cli:root")
    with pytest.raises(errors.Conflict, match="already owns"):
        await service.add_owner(room.id, "slack:U0AAA1111", actor="cli:root")
    with pytest.raises(errors.NotFound, match="not an owner"):
        await service.remove_owner(room.id, "U0BBB2222", actor="cli:root")
    newest_first = [e.action for e in await service.audit_log(3)]
    assert newest_first == ["owner.add", "owner.refused", "room.create"]


async def test_guests_cannot_create_rooms_or_ask_for_deletions(
    service: ConferenceService,
) -> None:
    with pytest.raises(errors.NotAllowed, match="Guests"):
        await service.create_room(name="X", conference_id="333", actor="slack:UG", role=Role.GUEST)
    room = await service.create_room(name="Sales", conference_id="111", actor="cli:root")
    with pytest.raises(errors.NotAllowed, match="Guests"):
        await service.request_deletion(room.id, requester="slack:UG", role=Role.GUEST)
    assert await service.list_requests() == []
    assert [e.action for e in await service.audit_log(2)] == ["guest.refused", "room.create"]


async def test_a_card_posted_while_its_pin_changed_keeps_no_pin(
    service: ConferenceService,
) -> None:
    """The card went out with the old PIN; the PIN changed before it was remembered: it
    must not go on to show the new PIN in that channel."""
    room = await service.create_room(name="Sales", conference_id="111", pin="1111", actor="t")
    await service.update_room(room.id, pin="2222", actor="cli:root")
    card = await service.remember_card(
        channel="C1", ts="1.1", room_id=room.id, include_pin=True, posted_by="t", shown_pin="1111"
    )
    assert card.include_pin is False
    assert [c.include_pin for c in await service.cards(room.id)] == [False]
