from __future__ import annotations

import pytest

from bot import errors
from bot.models import RequestStatus, Room, Server
from bot.repository import Repository
from bot.service import ConferenceService, RoomChange

ADMIN = "test:admin"


async def make_room(
    service: ConferenceService, name: str = "Sales", cid: str = "1234", **kw: object
) -> Room:
    return await service.create_room(name=name, conference_id=cid, actor=ADMIN, **kw)  # type: ignore[arg-type]


# -- the server -----------------------------------------------------------------------------


async def test_server_defaults_and_extension_rules(repo: Repository) -> None:
    service = ConferenceService(repo)
    assert await service.get_server() is None
    with pytest.raises(errors.ServerNotFound, match="server setup"):
        await service.create_room(name="A", conference_id="123", actor=ADMIN)
    for bad in ["", "8", "1234567", "80a", "８００"]:
        with pytest.raises(errors.InvalidInput, match="2 to 6 digits"):
            await service.setup_server(bad, ADMIN)
    server = await service.setup_server(" 800 ", ADMIN)
    assert server.extension == "800"
    assert server.phone_number is None
    assert (await service.setup_server("4567", ADMIN)).extension == "4567"


async def test_extension_cannot_take_a_rooms_conference_id(service: ConferenceService) -> None:
    await make_room(service, cid="555")
    with pytest.raises(errors.ConferenceIdIsExtension, match='room "Sales"'):
        await service.setup_server("555", ADMIN)
    assert (await service.require_server()).extension == "800"


@pytest.mark.parametrize(
    "raw,clean",
    [
        ("+15551234567", "+15551234567"),
        ("+1 (555) 123-4567", "+15551234567"),
        ("+442071838750", "+442071838750"),
    ],
)
async def test_assign_number(service: ConferenceService, raw: str, clean: str) -> None:
    server = await service.assign_number(raw, ADMIN)
    assert server.phone_number == clean
    assert server.dial_in == clean


@pytest.mark.parametrize(
    "bad", ["15551234567", "+0551234567", "+1555abc4567", "+1234567890123456", "+"]
)
async def test_assign_number_rejects_non_e164(service: ConferenceService, bad: str) -> None:
    with pytest.raises(errors.InvalidInput, match="E.164"):
        await service.assign_number(bad, ADMIN)
    assert (await service.require_server()).phone_number is None


async def test_number_replace_and_unassign(service: ConferenceService) -> None:
    await service.assign_number("+15551234567", ADMIN)
    assert (await service.assign_number("+15557654321", ADMIN)).phone_number == "+15557654321"
    assert (await service.unassign_number(ADMIN)).phone_number is None
    with pytest.raises(errors.NotFound, match="no phone number"):
        await service.unassign_number(ADMIN)


async def test_server_delete_says_what_is_left(service: ConferenceService) -> None:
    await make_room(service, "Sales", "1234")
    await make_room(service, "Support", "5678")
    await service.assign_number("+15551234567", ADMIN)
    with pytest.raises(errors.ServerNotEmpty) as caught:
        await service.delete_server(ADMIN)
    message = caught.value.message
    assert '"Sales" (ID 1234)' in message and '"Support" (ID 5678)' in message
    assert "unassign its phone number +15551234567" in message

    await service.delete_room("Sales", actor=ADMIN)
    await service.delete_room("5678", actor=ADMIN)
    with pytest.raises(errors.ServerNotEmpty) as caught:
        await service.delete_server(ADMIN)
    assert "room" not in caught.value.message and "+15551234567" in caught.value.message

    await service.unassign_number(ADMIN)
    await service.delete_server(ADMIN)
    assert await service.get_server() is None
    with pytest.raises(errors.ServerNotFound):
        await service.delete_server(ADMIN)


# -- rooms ----------------------------------------------------------------------------------


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


# -- deletion requests ----------------------------------------------------------------------


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


# -- audit ----------------------------------------------------------------------------------


async def test_audit_records_changes_without_pins(service: ConferenceService) -> None:
    await make_room(service, pin="24682468")
    await service.update_room("Sales", actor="cli:bob", pin="13571357")
    await service.update_room("Sales", actor="cli:bob", pin=None)
    await service.update_room("Sales", actor="cli:bob", pin="97979797", name="Ops")
    await service.delete_room("Ops", actor="cli:bob")
    entries = await service.audit_log(100)
    summaries = [e.summary for e in reversed(entries)]
    assert summaries[0] == "Created the conference server on extension 800"
    assert summaries[2] == 'Changed room "Sales": PIN changed'
    assert summaries[3] == 'Changed room "Sales": PIN removed'
    assert summaries[4] == 'Changed room "Sales": name "Sales" -> "Ops"; PIN set'
    assert summaries[5].startswith('Deleted room "Ops"')
    update = entries[1]
    assert update.actor == "cli:bob" and update.action == "room.update"
    assert update.before == {
        "name": "Sales",
        "conference_id": "1234",
        "has_pin": False,
        "max_participants": 10,
        "language": "en",
    }
    assert update.after is not None and update.after["has_pin"] is True
    dump = repr(entries)
    for pin in ["24682468", "13571357", "97979797"]:
        assert pin not in dump


async def test_unchanged_edit_writes_nothing(service: ConferenceService) -> None:
    room = await make_room(service, max_participants=10)
    before = len(await service.audit_log(100))
    same = await service.update_room("Sales", actor="someone", name="Sales", max_participants=10)
    assert same == room == await service.get_room("Sales")  # updated_at/by untouched
    assert len(await service.audit_log(100)) == before


# -- observers ------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.rooms: list[RoomChange] = []
        self.servers: list[Server | None] = []

    async def room_changed(self, change: RoomChange) -> None:
        self.rooms.append(change)

    async def server_changed(self, server: Server | None) -> None:
        self.servers.append(server)


class Broken:
    async def room_changed(self, change: RoomChange) -> None:
        raise RuntimeError("PBX unreachable")

    async def server_changed(self, server: Server | None) -> None:
        raise RuntimeError("PBX unreachable")


async def test_observers_told_after_commit(
    service: ConferenceService, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    service.add_observer(Broken())
    service.add_observer(recorder)
    room = await make_room(service)
    await service.update_room("Sales", actor=ADMIN, pin="1234")
    with pytest.raises(errors.DuplicateName):
        await make_room(service, "sales", "999")
    await service.delete_room("Sales", actor=ADMIN)
    await service.assign_number("+15551234567", ADMIN)
    assert [c.kind for c in recorder.rooms] == ["created", "updated", "deleted"]
    assert recorder.rooms[1].previous == room and recorder.rooms[1].room.pin == "1234"
    assert recorder.servers[-1] is not None and recorder.servers[-1].phone_number == "+15551234567"
    assert "PBX unreachable" in caplog.text
    assert await service.list_rooms() == []
