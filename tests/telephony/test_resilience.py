"""Asterisk dies and comes back; the bot goes away and calls still work."""

from __future__ import annotations

import asyncio
import os
import signal

from deploy.daemon import run_cli
from telephony.naming import bridge_name
from telephony.tracker import PbxStatus
from tests.pbx_fixtures import Pbx, eventually


async def test_asterisk_killed_and_restarted(own_pbx: Pbx, make_stack) -> None:
    stack = await make_stack(own_pbx)
    sales = await stack.service.create_room(name="Sales", conference_id="4321", pin="5678",
                                            actor="test")  # fmt: skip
    caller = asyncio.create_task(own_pbx.sipp.call("800", dtmf="4321#5678#", hold_ms=60000))
    await eventually(lambda: stack.tracker.count(sales.id) == 1, what="caller in")

    pid = own_pbx.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await eventually(lambda: not stack.ami.connected, what="AMI down")
    await eventually(lambda: PbxStatus(online=False) in stack.updates, what="offline published")
    assert not stack.tracker.online

    # Changes while the PBX is down are saved and reach it when it is back.
    later = await stack.service.create_room(name="Later", conference_id="5555", actor="test")
    await stack.service.update_room("Sales", actor="test", pin="2468")

    own_pbx.start()
    await eventually(lambda: stack.ami.connected and stack.tracker.online and stack.sync.synced,
                     timeout=30, what="reconnected and resynced")  # fmt: skip
    assert stack.tracker.count(sales.id) == 0  # the old call died with Asterisk
    assert await stack.counts_agree()
    caller.cancel()

    joined_later = asyncio.create_task(own_pbx.sipp.call("800", dtmf="5555#", hold_ms=2500))
    await eventually(lambda: stack.tracker.count(later.id) == 1, what="room made while down")
    new_pin = asyncio.create_task(own_pbx.sipp.call("800", dtmf="4321#2468#", hold_ms=2500))
    await eventually(lambda: stack.tracker.count(sales.id) == 1, what="PIN changed while down")
    assert await stack.counts_agree()
    assert (await joined_later).ok and (await new_pin).ok


async def test_calls_work_while_the_bot_is_down(own_pbx: Pbx, make_stack) -> None:
    stack = await make_stack(own_pbx)
    room = await stack.service.create_room(name="Sales", conference_id="4321", actor="test")
    await stack.ami.close()  # the bot is gone; Asterisk keeps the last synced rooms

    # ...even across a clean restart of Asterisk itself (AstDB is on disk).
    own_pbx.stop()
    own_pbx.start()

    call = asyncio.create_task(own_pbx.sipp.call("800", dtmf="4321#", hold_ms=4000))

    async def in_bridge() -> bool:
        out = await asyncio.to_thread(run_cli, own_pbx.install, own_pbx.cfg.run_dir,
                                      "confbridge list")  # fmt: skip
        return bridge_name(room.id) in out

    await eventually(in_bridge, what="caller joined without the bot")
    assert (await call).ok


async def test_a_hung_pbx_does_not_hold_up_changes(own_pbx: Pbx, make_stack) -> None:
    stack = await make_stack(own_pbx)
    room = await stack.service.create_room(name="Sales", conference_id="4321", actor="test")
    pid = own_pbx.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # Asterisk freezes: AMI stays connected but answers nothing
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await stack.service.update_room("Sales", actor="test", conference_id="9999")
        assert loop.time() - started < 2.5  # within a Slack modal's 3 s, saved all the same
        assert (await stack.service.get_room("9999")).id == room.id
    finally:
        os.kill(pid, signal.SIGCONT)
    # Once Asterisk answers again, the deferred change reaches AstDB.
    await eventually(lambda: stack.sync.synced, what="resync")

    async def moved() -> bool:
        return bool(await stack.sync.stored_conference_ids() == {"9999"})

    await eventually(moved, timeout=20, what="AstDB shows the new conference ID")
    call = asyncio.create_task(own_pbx.sipp.call("800", dtmf="9999#", hold_ms=2000))
    await eventually(lambda: stack.tracker.count(room.id) == 1, what="new ID works")
    assert (await call).ok
