"""Asterisk dies and comes back; the bot goes away and calls still work.

With ``serve``'s watchdog (``deploy.keeper``) a killed Asterisk is back within 2 s, and the
AMI client, told the PBX is alive, is back within 1 s of that, whatever its backoff."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from bot.errors import ChangeNotApplied
from deploy.daemon import run_cli
from deploy.keeper import PbxKeeper
from telephony.naming import bridge_name
from telephony.tracker import PbxStatus
from tests.pbx_fixtures import Pbx, Stack, assert_not_root, eventually

RESTART_BUDGET = 2.0  # s from kill -9 to a booted Asterisk
AMI_BUDGET = 1.0  # s from a booted Asterisk to AMI ready


class Watched:
    """``serve``'s watchdog on ``pbx``, wired to ``stack``'s AMI client as serve wires it;
    records when the PBX was seen alive and when AMI was ready."""

    def __init__(self, pbx: Pbx, stack: Stack) -> None:
        self.keeper = PbxKeeper(pbx.cfg, find_install=lambda: pbx.install)
        self.stack = stack
        self.alive: list[float] = []
        self.ready: list[float] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

        async def ready() -> None:
            self.ready.append(asyncio.get_running_loop().time())

        stack.ami.on_ready(ready)

    def _seen_alive(self) -> None:
        self.alive.append(asyncio.get_running_loop().time())
        self.stack.ami.retry_now()

    async def start(self) -> None:
        await self.keeper.ensure()
        self._task = asyncio.create_task(self.keeper.watch(self._stop, self._seen_alive))

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task


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

    # Changes while the PBX is down are saved (not reported as done: test_pbx_confirms.py)
    # and reach it when it is back.
    with pytest.raises(ChangeNotApplied):
        await stack.service.create_room(name="Later", conference_id="5555", actor="test")
    later = await stack.service.get_room("Later")
    with pytest.raises(ChangeNotApplied):
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
        with pytest.raises(ChangeNotApplied):  # not reported as done (test_pbx_confirms.py)
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


async def test_the_watchdog_restarts_a_killed_asterisk_and_ami_is_back_at_once(
    own_pbx: Pbx, make_stack
) -> None:
    stack = await make_stack(own_pbx)
    watched = Watched(own_pbx, stack)
    await watched.start()
    try:
        sales = await stack.service.create_room(name="Sales", conference_id="4321", actor="t")
        first = asyncio.create_task(own_pbx.sipp.call("800", dtmf="4321#", hold_ms=60000))
        await eventually(lambda: stack.tracker.count(sales.id) == 1, what="caller in")

        old = own_pbx.pid
        assert old is not None
        loop = asyncio.get_running_loop()
        killed = loop.time()
        os.kill(old, signal.SIGKILL)
        await eventually(lambda: watched.keeper.restarts == 1, timeout=5, what="restarted")
        up = min(t for t in watched.alive if t > killed) - killed
        assert up < RESTART_BUDGET, f"Asterisk back {up:.2f} s after kill -9"
        await eventually(lambda: any(t > killed for t in watched.ready), timeout=5, what="AMI")
        back = killed + up
        reconnect = min(t for t in watched.ready if t > killed) - back
        assert reconnect < AMI_BUDGET, f"AMI ready {reconnect:.2f} s after Asterisk was back"

        new = own_pbx.pid
        assert new is not None and new != old
        assert_not_root(new)
        await eventually(lambda: stack.tracker.online, what="reconciled")
        assert stack.tracker.count(sales.id) == 0  # that call died with Asterisk
        first.cancel()
        again = asyncio.create_task(own_pbx.sipp.call("800", dtmf="4321#", hold_ms=2500))
        await eventually(lambda: stack.tracker.count(sales.id) == 1, what="caller back")
        assert await stack.counts_agree()
        assert (await again).ok
    finally:
        await watched.stop()


async def test_ami_is_back_within_1_s_of_a_pbx_started_after_a_long_outage(
    own_pbx: Pbx, make_stack
) -> None:
    stack = await make_stack(own_pbx)
    watched = Watched(own_pbx, stack)
    await watched.start()
    try:
        await asyncio.to_thread(own_pbx.stop)  # conference-bot pbx stop: stays stopped
        # Meanwhile the AMI client's backoff grows (0.25 s, doubling): its next retry is
        # seconds away when the PBX comes back.
        await asyncio.sleep(4.0)
        assert own_pbx.pid is None and watched.keeper.restarts == 0

        loop = asyncio.get_running_loop()
        await asyncio.to_thread(own_pbx.start)  # conference-bot pbx start, booted
        booted = loop.time()
        await eventually(lambda: stack.ami.connected, timeout=5, what="AMI ready")
        reconnect = loop.time() - booted
        assert reconnect < AMI_BUDGET, f"AMI ready {reconnect:.2f} s after the PBX was up"
        assert watched.keeper.pid == own_pbx.pid
        await eventually(lambda: stack.tracker.online and stack.sync.synced, what="resynced")
    finally:
        await watched.stop()
