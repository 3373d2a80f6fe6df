"""What a person is told when the PBX did not confirm a change: what callers still get, in
words, and never a PIN (the live behaviour is in test_pbx_confirms.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.changes import RoomChange
from bot.models import Room, Server
from telephony.astdb import room_pending, server_pending

ROOM = Room(id=7, name="Sales", conference_id="4321", pin="2468", max_participants=10,
            language="en", created_by="t", created_at="x", updated_by="t",
            updated_at="x")  # fmt: skip


@pytest.mark.parametrize(
    "after,still",
    [
        (replace(ROOM, pin="1357"), "the old PIN still works"),
        (replace(ROOM, pin=None), "callers are still asked for the old PIN"),
        (replace(ROOM, conference_id="9999"), "callers still dial conference ID 4321"),
        (replace(ROOM, max_participants=3), "the limit is still 10"),
        (replace(ROOM, language="es"), "callers still hear the old prompts"),
    ],
)
def test_an_update_says_what_still_holds(after: Room, still: str) -> None:
    text = room_pending(RoomChange("updated", after, ROOM), 1.5)
    assert text.startswith('The change to room "Sales" is saved, but the phone system (PBX) '
                           "did not confirm it within 1.5 s")  # fmt: skip
    assert still in text and text.endswith("It is applied as soon as the PBX answers; the bot "
                                           "keeps trying.")  # fmt: skip
    assert "2468" not in text and "1357" not in text


def test_a_pin_added_creation_deletion_and_the_server() -> None:
    added = room_pending(RoomChange("updated", ROOM, replace(ROOM, pin=None)), 10)
    assert "callers still get in without a PIN" in added and "within 10 s" in added
    created = room_pending(RoomChange("created", ROOM), 2)
    assert "is saved" in created and "callers cannot join it yet" in created
    deleted = room_pending(RoomChange("deleted", ROOM), 2)
    assert "can still join it with conference ID 4321" in deleted
    assert all("2468" not in t for t in (added, created, deleted))
    server = Server(extension="800", phone_number=None, created_by="t", created_at="x",
                    updated_by="t", updated_at="x")  # fmt: skip
    assert "old extension" in server_pending(server, 2)
    assert "deleted here" in server_pending(None, 2)
