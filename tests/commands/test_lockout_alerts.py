"""A room under PIN guessing, from real calls to the admins' channel: the alert is posted once
per window, "Lock PIN entry" makes the PBX refuse everyone at the room's PIN prompt (and
"Unlock" lets them in again), "Change PIN" opens the room's edit modal; only admins may
lock, and all of it is audited. A real Asterisk, sipp trunk callers, the fake Slack."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from bot.config import Settings
from bot.service import ConferenceService
from bot.wiring import Deps, build_telephony, watch_lockouts
from commands import ids
from commands.blocks.lockouts import for_how_long, room_alert
from deploy.install import AsteriskInstall
from deploy.lockout_settings import LockoutSettings
from telephony.errors import PbxActionFailed
from telephony.lockout_monitor import RoomAlert
from telephony.lockouts import LockoutEvent, Scope, Stage
from telephony.naming import LOCKOUTS_FAMILY
from tests.commands.conftest import ADMIN, ADMIN_CHANNEL, ALICE, HttpDriver
from tests.pbx_fixtures import TRUNK_IP, Pbx, eventually, make_pbx
from tests.telephony.sipp import SippResult

NUMBER = "+15551234567"
# Four wrong PINs from anyone in a room alert the admins (the product: 20 in an hour).
SETTINGS = LockoutSettings(room_tries=4, room_lock=600)


@pytest.fixture(scope="module")
def alert_pbx(install: AsteriskInstall, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pbx]:
    base = tmp_path_factory.mktemp("alerts")
    pbx = make_pbx(install, base / "run", base / "sipp")
    pbx.cfg.lockouts = SETTINGS
    pbx.start()
    yield pbx
    pbx.stop()


@pytest.fixture
async def wired(
    service: ConferenceService, alert_pbx: Pbx, tmp_path: Path
) -> AsyncIterator[tuple[Deps, list[dict[str, str]]]]:
    """What serve wires: the real telephony stack and the lockout monitor; and the
    UserEvents seen."""
    tel = build_telephony(service, host="127.0.0.1", port=alert_pbx.cfg.ami_port,
                          username=alert_pbx.creds.username, secret=alert_pbx.creds.password,
                          lockouts=SETTINGS)  # fmt: skip
    monitor = watch_lockouts(tel, service)
    events: list[dict[str, str]] = []
    tel.ami.register_event("UserEvent", lambda msg: events.append(dict(msg)))
    await tel.ami.start()
    assert await tel.ami.wait_ready(20)
    await eventually(lambda: tel.tracker.online and tel.sync.synced, what="first sync")
    try:
        await tel.ami.action({"Action": "DBDelTree", "Family": LOCKOUTS_FAMILY})
    except PbxActionFailed:
        pass  # nothing left by another test
    yield (Deps(Settings.from_environ({}, cwd=tmp_path), service, tel.ami, tel.tracker,
                tel.actions, lockouts=monitor), events)  # fmt: skip
    await monitor.close()
    await tel.ami.close()
    await tel.sync.close()


@pytest.fixture
def deps(wired: tuple[Deps, list[dict[str, str]]]) -> Deps:
    """The Slack front end's (``runner``, ``slack``) bundle: the real one."""
    return wired[0]


def refusals(events: list[dict[str, str]]) -> list[LockoutEvent]:
    parsed = [e for e in map(LockoutEvent.parse, events) if e is not None]
    return [e for e in parsed if e.stage is Stage.REFUSED]


async def test_admins_hear_once_and_lock_the_pin_entry(
    wired: tuple[Deps, list[dict[str, str]]],
    slack: HttpDriver,
    service: ConferenceService,
    alert_pbx: Pbx,
) -> None:
    bundle, events = wired
    monitor = bundle.lockouts
    assert monitor is not None
    await service.assign_number(NUMBER, "test")
    room = await service.create_room(name="Board <!here>", conference_id="4242", pin="2468",
                                     actor="test")  # fmt: skip

    def call(caller: str, dtmf: str, tag: str, hold_ms: int = 0) -> asyncio.Task[SippResult]:
        return asyncio.create_task(alert_pbx.sipp.call(
            NUMBER, dtmf=dtmf, caller=caller, local_ip=TRUNK_IP, password=None, tag=tag,
            hold_ms=hold_ms, wait_for_hangup=not hold_ms))  # fmt: skip

    # Two numbers, three wrong PINs each: six, over the threshold of four, but one alert.
    # (At the same moments: the dialplan's LOCK() keeps parallel counts from losing one.)
    guesses = [call("+15550000001", "4242#1#2#3#", "a", hold_ms=500),
               call("+15550000002", "4242#4#5#6#", "b", hold_ms=500)]  # fmt: skip
    alert = await slack.fake.wait_for("chat.postMessage", timeout=20)
    assert all(r.ok for r in await asyncio.gather(*guesses))
    await monitor.wait_idle()
    assert len(slack.fake.calls_to("chat.postMessage")) == 1
    assert alert.args["channel"] == ADMIN_CHANNEL
    blocks: list[dict[str, Any]] = alert.args["blocks"]
    shown = str(blocks)
    assert "4 wrong PINs within 1 h" in shown and "Board &lt;!here&gt;" in shown
    assert "`+15550000001`" in shown and "`+15550000002`" in shown and "2468" not in shown
    for block in blocks:
        Block.parse(block).validate_json()  # type: ignore[union-attr]
    [buttons] = [b for b in blocks if b.get("block_id") == ids.LOCKOUT_ACTIONS_BLOCK]
    assert [(e["text"]["text"], e["action_id"], e["value"]) for e in buttons["elements"]] == [
        ("Change PIN", ids.ROOM_EDIT, str(room.id)),
        ("Lock PIN entry for 10 min", ids.LOCK_PIN_ENTRY, str(room.id)),
    ]
    message = {"ts": "1700000001.000001", "text": alert.args["text"], "blocks": blocks}

    # Not an admin: refused and audited, nothing locked.
    await slack.click(ids.LOCK_PIN_ENTRY, str(room.id), user=ALICE, channel=ADMIN_CHANNEL,
                      message=message)  # fmt: skip
    told = await slack.fake.wait_for("response_url")
    assert told.args["text"].startswith("Only workspace admins")
    assert not (await monitor.store.read()).locked_rooms(monitor.store.now())

    # An admin locks it: the PBX refuses even the right PIN, for everyone.
    await slack.click(ids.LOCK_PIN_ENTRY, str(room.id), user=ADMIN, channel=ADMIN_CHANNEL,
                      message=message)  # fmt: skip
    update = await slack.fake.wait_for("chat.update")
    assert f"<@{ADMIN}> locked the PIN entry until" in str(update.args["blocks"])
    [locked] = (await monitor.store.read()).locked_rooms(monitor.store.now())
    assert locked.room_id == room.id
    assert (await call("+15550000003", "4242#2468#", "right")).ok  # hung up on
    assert [(e.scope, e.caller) for e in refusals(events)] == [(Scope.ROOM, "+15550000003")]
    assert bundle.tracker.count(room.id) == 0

    # Unlocked: the right PIN joins again.
    message["blocks"] = update.args["blocks"]
    await slack.click(ids.UNLOCK_PIN_ENTRY, str(room.id), user=ADMIN, channel=ADMIN_CHANNEL,
                      message=message)  # fmt: skip
    unlocked = await slack.fake.wait_for("chat.update", count=2)
    assert f"<@{ADMIN}> unlocked the PIN entry" in str(unlocked.args["blocks"])
    joiner = call("+15550000003", "4242#2468#", "again", hold_ms=1500)
    await eventually(lambda: bundle.tracker.count(room.id) == 1, what="the right PIN joins")
    assert (await joiner).ok

    # Change PIN: the room's edit modal.
    await slack.click(ids.ROOM_EDIT, str(room.id), user=ADMIN, channel=ADMIN_CHANNEL,
                      message=message)  # fmt: skip
    opened = await slack.fake.wait_for("views.open")
    assert opened.args["view"]["callback_id"] == ids.EDIT_VIEW
    assert str(room.id) in opened.args["view"]["private_metadata"]

    audit = {(e.actor, e.action) for e in await service.audit_log()}
    assert {("pbx", "lockout.room_alert"), (f"slack:{ALICE}", "lockout.refused"),
            (f"slack:{ADMIN}", "lockout.room_locked"),
            (f"slack:{ADMIN}", "lockout.room_unlocked")} <= audit  # fmt: skip


def test_an_alert_found_late_or_for_a_deleted_room() -> None:
    late = room_alert(RoomAlert(7, None, None, None, ("+1555",), 1795732286, late=True), 3600)
    shown = str(late["blocks"])
    assert "Too many wrong PINs for a room deleted since" in shown
    assert "while the bot was offline" in shown
    assert not [b for b in late["blocks"] if b["type"] == "actions"]  # nothing to lock
    assert for_how_long(3600) == "an hour" and for_how_long(1800) == "30 min"
