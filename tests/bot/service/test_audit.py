"""The audit log: every change, never a PIN, nothing for a change that changed nothing."""

from __future__ import annotations

from bot.service import ConferenceService
from tests.bot.service.common import make_room


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
        "has_moderator_pin": False,
        "wait_for_moderator": False,
        "end_with_moderator": False,
        "start_muted": False,
        "lobby": False,
        "join_notes": False,
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
