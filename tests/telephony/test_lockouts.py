"""Lockouts enforced by the PBX itself (issue 10, item 1), against a real Asterisk with sipp:
wrong PINs lock a caller out of a room (the right PIN too, then), unknown conference IDs lock
a caller out of every room, a caller gets at most a few calls in the IVR at once, and every
lockout reaches the audit log, also one set while the bot was away.

The PBX runs with short lockouts (seconds, not minutes) and the product's thresholds
otherwise; wrong PINs are one digit long, so a call's three tries take about two seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any

import pytest

from deploy.install import AsteriskInstall
from deploy.lockout_settings import LockoutSettings
from telephony.lockout_monitor import PBX_ACTOR, LockoutMonitor
from telephony.lockouts import LockoutEvent, LockoutStore, Scope, Stage
from telephony.naming import caller_key
from telephony.tracker import RoomSnapshot
from tests.pbx_fixtures import PHONES, TRUNK_IP, Pbx, Stack, eventually, make_pbx
from tests.telephony.sipp import SippResult

PIN_LOCK = 9  # seconds a caller stays locked out of a room (the product: 15 min)
SETTINGS = LockoutSettings(pin_lock=PIN_LOCK, id_tries=3, id_lock=30)
BOB_PASSWORD = dict(PHONES)["bob"]
NUMBER = "+15551234567"


@pytest.fixture(scope="module")
def lockout_pbx(
    install: AsteriskInstall, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pbx]:
    base = tmp_path_factory.mktemp("lockouts")
    pbx = make_pbx(install, base / "run", base / "sipp")
    pbx.cfg.lockouts = SETTINGS
    pbx.start()
    yield pbx
    pbx.stop()
    # The lockout dialplan ran without a warning or error from Asterisk.
    log = (pbx.cfg.log_dir / "messages.log").read_text(errors="replace").splitlines()
    noise = "AstDB key /conference/server/number does not exist"  # the sync's DBDel
    assert [
        line for line in log if ("WARNING" in line or "ERROR" in line) and noise not in line
    ] == []


@pytest.fixture
async def stack(lockout_pbx: Pbx, make_stack: Callable[[Pbx], Awaitable[Stack]]) -> Stack:
    """The bot's stack (which starts with no lockout entries left by another test)."""
    return await make_stack(lockout_pbx)


@pytest.fixture
async def monitor(stack: Stack) -> AsyncIterator[LockoutMonitor]:
    """What serve runs (``bot.wiring.watch_lockouts``), on the test's stack."""
    store = LockoutStore(stack.ami, room_lock=60, forget_after=SETTINGS.longest_window)
    watcher = LockoutMonitor(store, stack.service, stack.service)
    watcher.subscribe(stack.ami)
    yield watcher
    await watcher.close()


def lockout_events(stack: Stack) -> list[LockoutEvent]:
    return [e for e in map(LockoutEvent.parse, stack.events) if e is not None]


def joined(stack: Stack, room_id: int) -> bool:
    return any(isinstance(u, RoomSnapshot) and u.room_id == room_id and u.count
               for u in stack.updates)  # fmt: skip


async def test_the_sixth_pin_is_refused_even_the_right_one_until_the_lockout_ends(
    stack: Stack, monitor: LockoutMonitor
) -> None:
    sipp = stack.pbx.sipp
    room = await stack.service.create_room(name="Board", conference_id="4321", pin="5678",
                                           actor="test")  # fmt: skip
    # Five wrong PINs in two calls (each hangs up half a second after its last one).
    first = await sipp.call("800", dtmf="4321#1#2#3#", hold_ms=500, tag="w1")
    assert first.ok, first.log
    second = await sipp.call("800", dtmf="4321#4#5#", hold_ms=500, tag="w2")
    assert second.ok, second.log
    await eventually(lambda: any(e.stage is Stage.LOCKED for e in lockout_events(stack)),
                     what="the lockout event")  # fmt: skip
    [locked] = [e for e in lockout_events(stack) if e.stage is Stage.LOCKED]
    assert (locked.scope, locked.room_id, locked.conference_id) == (Scope.PIN, room.id, "4321")
    assert (locked.caller, locked.endpoint, locked.address) == ("alice", "alice", "127.0.0.1")
    assert (locked.count, locked.window) == (5, 900)
    assert locked.until is not None and locked.since is not None
    assert locked.until - locked.since == PIN_LOCK

    # The right PIN, typed as the sixth attempt, and by another phone at the same time.
    refused = asyncio.create_task(
        sipp.call("800", dtmf="4321#5678#", wait_for_hangup=True, tag="right")
    )
    bob = asyncio.create_task(sipp.call("800", dtmf="4321#5678#", hold_ms=1500, caller="bob",
                                        password=BOB_PASSWORD, tag="bob"))  # fmt: skip
    assert (await bob).ok
    assert (await refused).ok  # hung up on
    refusals = [e for e in lockout_events(stack) if e.stage is Stage.REFUSED]
    assert [(e.scope, e.caller) for e in refusals] == [(Scope.PIN, "alice")] * 2
    people = [u for u in stack.updates if isinstance(u, RoomSnapshot) and u.count]
    assert {p.caller_id_num for u in people for p in u.participants} == {"bob"}
    assert "5678" not in repr(stack.events)

    # Audited once, by the PBX, with who and where.
    await monitor.wait_idle()
    [row] = [e for e in await stack.service.audit_log() if e.action == "lockout.pin"]
    assert row.actor == PBX_ACTOR and row.target == 'room "Board" (ID 4321)'
    assert row.summary == (
        'Caller alice from 127.0.0.1 locked out of room "Board" (ID 4321) for 9 s after 5 '
        "wrong PINs within 15 min"
    )

    # The lockout runs out by itself: the right PIN works again.
    await asyncio.sleep(max(0.0, locked.until + 1 - time.time()))
    back = asyncio.create_task(sipp.call("800", dtmf="4321#5678#", hold_ms=1500, tag="back"))
    await eventually(lambda: any(p.caller_id_num == "alice"
                                 for p in stack.tracker.participants(room.id)),
                     what="alice back in")  # fmt: skip
    assert (await back).ok


async def test_unknown_ids_lock_a_caller_out_of_every_room(stack: Stack) -> None:
    sipp = stack.pbx.sipp
    await stack.service.assign_number(NUMBER, "test")
    room = await stack.service.create_room(name="Open", conference_id="777", actor="test")

    def trunk(
        caller: str, dtmf: str, tag: str, hold_ms: int = 0
    ) -> Coroutine[Any, Any, SippResult]:
        return sipp.call(NUMBER, dtmf=dtmf, local_ip=TRUNK_IP, caller=caller, password=None,
                         hold_ms=hold_ms, wait_for_hangup=not hold_ms, tag=tag)  # fmt: skip

    guesser = "+15550001111"
    # The third unknown ID (PBX_LOCKOUT_ID_TRIES=3 here) locks the caller out: refused at once.
    assert (await trunk(guesser, "991#992#993#", "g1", hold_ms=500)).ok
    await eventually(lambda: len(lockout_events(stack)) == 2, what="locked out, refused")
    # A real ID now: refused before it is asked for; another number of the trunk gets in.
    again = asyncio.create_task(trunk(guesser, "777#", "g3"))
    other = asyncio.create_task(trunk("+15550002222", "777#", "other", hold_ms=1500))
    assert (await again).ok and (await other).ok
    events = [(e.stage, e.scope, e.caller) for e in lockout_events(stack)]
    assert events == [(Stage.LOCKED, Scope.ID, guesser), (Stage.REFUSED, Scope.ID, guesser),
                      (Stage.REFUSED, Scope.ID, guesser)]  # fmt: skip
    assert not stack.user_events("ConferenceInvalidId")  # refused, not the usual goodbye
    [locked] = [e for e in lockout_events(stack) if e.stage is Stage.LOCKED]
    assert locked.endpoint == "trunk" and locked.address == TRUNK_IP and locked.count == 3
    assert {p.caller_id_num for u in stack.updates if isinstance(u, RoomSnapshot)
            for p in u.participants} == {"+15550002222"}  # fmt: skip
    assert joined(stack, room.id)

    # Set while no bot watched: the next one to connect audits it, once.
    store = LockoutStore(stack.ami, room_lock=60, forget_after=SETTINGS.longest_window)
    late = LockoutMonitor(store, stack.service, stack.service)
    await late.catch_up()
    await late.catch_up()
    rows = [e for e in await stack.service.audit_log() if e.action == "lockout.id"]
    assert [(r.actor, r.target) for r in rows] == [(PBX_ACTOR, f"caller {guesser} (trunk)")]
    assert rows[0].summary.startswith(f"Caller {guesser} (trunk) locked out of every conference")
    assert rows[0].summary.endswith("for 30 s (while the bot was away)")
    tree = await store.read()
    [entry] = tree.active(time.time())
    assert entry.caller_key == caller_key("trunk", guesser) and entry.reported == entry.since


async def test_a_fifth_call_in_the_ivr_at_once_gets_busy(stack: Stack) -> None:
    """At most four calls of one caller in the IVR; a call that joined a room left it."""
    sipp = stack.pbx.sipp
    await stack.service.assign_number(NUMBER, "test")
    room = await stack.service.create_room(name="Open", conference_id="555", actor="test")
    caller = "+15550003333"

    def call(dtmf: str, hold_ms: int, tag: str) -> asyncio.Task[SippResult]:
        placed = sipp.call(NUMBER, dtmf=dtmf, hold_ms=hold_ms, caller=caller,
                           local_ip=TRUNK_IP, password=None, tag=tag)  # fmt: skip
        return asyncio.create_task(placed)

    # Four in the room: none of them counts any more, so a fifth call is let in.
    in_room = [call("555#", 5000, f"r{i}") for i in range(4)]
    await eventually(lambda: stack.tracker.count(room.id) == 4, what="four in the room")
    waiting = [call("", 2500, f"w{i}") for i in range(4)]  # sit in the IVR, typing nothing
    await asyncio.sleep(1.0)
    busy = await sipp.call(NUMBER, caller=caller, local_ip=TRUNK_IP, password=None,
                           refused="486", tag="busy")  # fmt: skip
    assert busy.ok, busy.log
    # The event goes out before the 486, but AMI may deliver it after sipp saw the answer.
    await eventually(lambda: bool(lockout_events(stack)), what="the refusal's event")
    [event] = lockout_events(stack)
    assert (event.stage, event.scope, event.caller, event.count) == (
        Stage.REFUSED, Scope.CALLS, caller, 4)  # fmt: skip
    # Another caller of the same trunk is not held back.
    assert (await sipp.call(NUMBER, dtmf="555#", hold_ms=500, caller="+15550004444",
                            local_ip=TRUNK_IP, password=None, tag="x")).ok  # fmt: skip
    assert all(r.ok for r in await asyncio.gather(*waiting))
    # Hung up: out of the IVR too.
    assert (await call("555#", 500, "after")).ok
    assert all(r.ok for r in await asyncio.gather(*in_room))


async def test_parallel_calls_of_one_caller_get_five_guesses_no_more(stack: Stack) -> None:
    """Four calls typing wrong PINs at the same moments: each attempt is checked and counted
    under the caller's lock, so the lockout lands after exactly five."""
    sipp = stack.pbx.sipp
    await stack.service.assign_number(NUMBER, "test")
    room = await stack.service.create_room(name="Vault", conference_id="888", pin="5678",
                                           actor="test")  # fmt: skip
    calls = [
        sipp.call(NUMBER, dtmf="888#1#2#3#", hold_ms=500, caller="+15550005555",
                  local_ip=TRUNK_IP, password=None, tag=f"p{i}")
        for i in range(4)
    ]  # fmt: skip
    assert all(r.ok for r in await asyncio.gather(*calls))
    store = LockoutStore(stack.ami, room_lock=60, forget_after=SETTINGS.longest_window)
    [watch] = (await store.read()).rooms
    assert watch.room_id == room.id and len(watch.fails) == 5  # the PINs compared
    stages = [e.stage for e in lockout_events(stack)]
    assert stages == [Stage.LOCKED] + [Stage.REFUSED] * 4  # each call, at its next try
