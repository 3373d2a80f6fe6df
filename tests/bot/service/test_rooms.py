"""Rooms: create, edit, find and delete, against the rules (``bot.service.rooms``)."""

from __future__ import annotations

import pytest

from bot import errors
from bot.repository import Repository
from bot.service import ConferenceService
from tests.bot.service.common import ADMIN, make_room


async def test_create_room_trims_and_stores_who_and_when(service: ConferenceService) -> None:
    room = await make_room(service, "  Sales weekly  ", "4321", pin="2468", max_participants=5)
    assert room.name == "Sales weekly"
    assert room.pin == "2468" and room.has_pin
    assert room.max_participants == 5 and room.language == "en"
    assert room.created_by == ADMIN == room.updated_by
    assert room.created_at and room.created_at == room.updated_at
    assert await service.get_room("SALES WEEKLY") == room
    assert await service.get_room("4321") == room


async def test_defaults(service: ConferenceService) -> None:
    room = await make_room(service)
    assert room.pin is None and room.max_participants == 10


@pytest.mark.parametrize(
    "field,kwargs,message",
    [
        ("name", {"name": ""}, "cannot be empty"),
        ("name", {"name": "   "}, "cannot be empty"),
        ("name", {"name": "x" * 65}, "at most 64"),
        ("name", {"name": "two\nlines"}, "line breaks"),
        ("name", {"name": "4323"}, "cannot be only digits"),
        ("conference_id", {"conference_id": "12"}, "3 to 10 digits"),
        ("conference_id", {"conference_id": "12345678901"}, "3 to 10 digits"),
        ("conference_id", {"conference_id": "12a4"}, "3 to 10 digits"),
        ("conference_id", {"conference_id": ""}, "3 to 10 digits"),
        ("pin", {"pin": "123"}, "4 to 10 digits"),
        ("pin", {"pin": "12345678901"}, "4 to 10 digits"),
        ("pin", {"pin": "12ab"}, "4 to 10 digits"),
        ("max_participants", {"max_participants": 11}, "1 to 10"),
        ("max_participants", {"max_participants": 0}, "1 to 10"),
        ("max_participants", {"max_participants": "ten"}, "1 to 10"),
        ("language", {"language": "fr"}, "choose one of en"),
    ],
)
async def test_create_room_rejects_bad_input(
    service: ConferenceService, field: str, kwargs: dict[str, object], message: str
) -> None:
    values: dict[str, object] = {"name": "Sales", "conference_id": "1234"} | kwargs
    with pytest.raises(errors.InvalidInput, match=message) as caught:
        await service.create_room(actor=ADMIN, **values)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert caught.value.code == "invalid_input"
    assert await service.list_rooms() == []


async def test_pin_never_echoed_in_error(service: ConferenceService) -> None:
    with pytest.raises(errors.InvalidInput) as caught:
        await make_room(service, pin="98x7")
    assert "98x7" not in caught.value.message


async def test_exactly_64_characters_is_fine(service: ConferenceService) -> None:
    assert (await make_room(service, "y" * 64)).name == "y" * 64


async def test_every_bad_field_reported_at_once(service: ConferenceService) -> None:
    with pytest.raises(errors.ValidationFailed) as caught:
        await service.create_room(name="", conference_id="1", pin="1", actor=ADMIN)
    assert {p.field for p in caught.value.problems} == {"name", "conference_id", "pin"}


async def test_duplicates_and_extension(service: ConferenceService) -> None:
    await make_room(service, "Sales", "1234")
    with pytest.raises(errors.DuplicateName, match='"Sales" already exists') as caught:
        await make_room(service, "sALES", "9999")
    assert caught.value.field == "name"
    with pytest.raises(errors.DuplicateConferenceId, match='used by room "Sales"') as dup:
        await make_room(service, "Other", "1234")
    assert dup.value.field == "conference_id"
    with pytest.raises(errors.ConferenceIdIsExtension, match="own extension"):
        await make_room(service, "Other", "800")
    with pytest.raises(errors.ValidationFailed) as both:
        await make_room(service, "SALES", "1234")
    assert {p.code for p in both.value.problems} == {"duplicate_name", "duplicate_conference_id"}
    assert len(await service.list_rooms()) == 1


async def test_room_limit(service: ConferenceService) -> None:
    for i in range(10):
        await make_room(service, f"Room {i}", f"10{i}")
    with pytest.raises(errors.RoomLimitReached, match="already has 10 rooms"):
        await make_room(service, "Eleven", "111")
    assert len(await service.list_rooms()) == 10


async def test_room_limit_is_a_setting(repo: Repository) -> None:
    service = ConferenceService(repo, max_rooms=2)
    await service.setup_server("800", ADMIN)
    await make_room(service, "A", "101")
    await make_room(service, "B", "102")
    with pytest.raises(errors.RoomLimitReached):
        await make_room(service, "C", "103")


async def test_edit_room(service: ConferenceService) -> None:
    room = await make_room(service, "Sales", "1234")
    edited = await service.update_room(
        "sales", actor="someone", name="Sales EMEA", conference_id="4321", pin="55555"
    )
    assert (edited.name, edited.conference_id, edited.pin) == ("Sales EMEA", "4321", "55555")
    assert edited.id == room.id and edited.updated_by == "someone"
    assert edited.created_by == ADMIN
    changed = await service.update_room("4321", actor=ADMIN, pin="66666")
    assert changed.pin == "66666"
    removed = await service.update_room("4321", actor=ADMIN, pin=None)
    assert removed.pin is None
    with pytest.raises(errors.RoomNotFound):
        await service.get_room("1234")


async def test_edit_by_stable_id_survives_renumbering(service: ConferenceService) -> None:
    room = await make_room(service, "Sales", "1234")
    await service.update_room("Sales", actor=ADMIN, conference_id="4321", name="Ops")
    assert (await service.update_room(room.id, actor=ADMIN, pin="5555")).pin == "5555"
    with pytest.raises(errors.RoomNotFound, match="no longer exists"):
        await service.update_room(room.id + 100, actor=ADMIN, pin="5555")


async def test_edit_room_rules(service: ConferenceService) -> None:
    await make_room(service, "Sales", "1234")
    await make_room(service, "Support", "5678")
    with pytest.raises(errors.DuplicateName):
        await service.update_room("Support", actor=ADMIN, name="sales")
    with pytest.raises(errors.DuplicateConferenceId):
        await service.update_room("Support", actor=ADMIN, conference_id="1234")
    with pytest.raises(errors.ConferenceIdIsExtension):
        await service.update_room("Support", actor=ADMIN, conference_id="800")
    with pytest.raises(errors.InvalidInput, match="4 to 10"):
        await service.update_room("Support", actor=ADMIN, pin="1")
    with pytest.raises(errors.RoomNotFound, match='"Nope"'):
        await service.update_room("Nope", actor=ADMIN, name="x")
    # Renaming a room to a different case of its own name is allowed.
    assert (await service.update_room("Support", actor=ADMIN, name="SUPPORT")).name == "SUPPORT"
    support = await service.get_room("5678")
    assert support.pin is None and support.conference_id == "5678"


async def test_unknown_rooms(service: ConferenceService) -> None:
    for ref in ["Nope", "999", ""]:
        with pytest.raises(errors.RoomNotFound):
            await service.get_room(ref)
        with pytest.raises(errors.RoomNotFound):
            await service.delete_room(ref, actor=ADMIN)


async def test_suggested_ids_are_free_and_random(service: ConferenceService) -> None:
    await make_room(service, "Sales", "123456")
    suggestions = {await service.suggest_conference_id() for _ in range(50)}
    assert len(suggestions) > 40
    for cid in suggestions:
        assert cid.isdigit() and len(cid) == 6 and cid not in {"123456", "800"}
