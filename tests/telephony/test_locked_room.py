"""A locked room turns the next caller away with the conf-locked prompt, and the bot hears
of it (the dialplan raises ConferenceLocked). Before this, only a manual script tried it."""

from __future__ import annotations

import asyncio

from tests.pbx_fixtures import Pbx, eventually


async def test_a_locked_room_refuses_the_next_caller(shared_pbx: Pbx, make_stack) -> None:
    stack = await make_stack(shared_pbx)
    room = await stack.service.create_room(name="Board", conference_id="4321", pin="5678",
                                           actor="test")  # fmt: skip
    first = asyncio.create_task(shared_pbx.sipp.call("800", dtmf="4321#5678#", hold_ms=6000,
                                                     tag="locked-first"))  # fmt: skip
    await eventually(lambda: stack.tracker.count(room.id) == 1, what="first caller in")
    await stack.actions.lock(room)

    second = await shared_pbx.sipp.call(
        "800", dtmf="4321#5678#", wait_for_hangup=True, caller="bob", password="bob-password-1",
        tag="locked-second",
    )  # fmt: skip
    assert second.ok, second.log  # answered, heard the prompt, was hung up on
    await eventually(lambda: bool(stack.user_events("ConferenceLocked")), what="locked event")
    [locked] = stack.user_events("ConferenceLocked")
    assert locked["Room"] == str(room.id)
    assert stack.tracker.count(room.id) == 1  # only the first caller ever got in
    assert (await first).ok
