"""The lobby against a real Asterisk: the dialplan's [conference-lobby] and its AMI side
(telephony.lobby) with the service deciding. sipp callers wait, are admitted (they join the
ConfBridge), refused (a BYE after the goodbye), time out (a short PBX_LOBBY_TIMEOUT), hang
up while waiting; a moderator skips the lobby; a caller waiting is read back from the
channel as the event described them."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot import errors
from bot.models import LobbyStatus, Role
from bot.service.lobby import LobbySettled
from deploy.install import AsteriskInstall
from telephony.lobby import LobbyArrival, LobbyDone, LobbyResult, PbxLobby
from telephony.naming import LOBBY_WAITING
from tests.pbx_fixtures import Pbx, Stack, eventually, make_pbx
from tests.telephony.sipp import SippResult

TIMEOUT = 8  # PBX_LOBBY_TIMEOUT of this module's PBX: seconds


@pytest.fixture(scope="module")
def lobby_pbx(install: AsteriskInstall, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pbx]:
    base = tmp_path_factory.mktemp("lobby")
    pbx = make_pbx(install, base / "run", base / "sipp")
    pbx.cfg = dataclasses.replace(pbx.cfg, lobby_timeout=TIMEOUT)
    pbx.start()
    yield pbx
    pbx.stop()


async def lobby_stack(make_stack, pbx: Pbx) -> tuple[Stack, PbxLobby]:
    stack: Stack = await make_stack(pbx)
    lobby = PbxLobby(stack.ami)
    lobby.subscribe()
    return stack, lobby


def arrivals(stack: Stack) -> list[LobbyArrival]:
    found = [LobbyArrival.parse(e) for e in stack.user_events("ConferenceLobby")]
    return [a for a in found if a is not None]


def results(stack: Stack, uniqueid: str) -> list[LobbyResult]:
    done = [LobbyDone.parse(e) for e in stack.user_events("ConferenceLobbyDone")]
    return [d.result for d in done if d is not None and d.uniqueid == uniqueid]


async def waiting_caller(
    stack: Stack, tag: str, **call: Any
) -> tuple[asyncio.Task[SippResult], LobbyArrival]:
    """A sipp caller dialling room 4321 (no PIN), once the dialplan says it waits."""
    before = len(arrivals(stack))
    task = asyncio.create_task(stack.pbx.sipp.call("800", dtmf="4321#", tag=tag, **call))
    await eventually(lambda: len(arrivals(stack)) > before, what="caller in the lobby")
    return task, arrivals(stack)[-1]


async def test_admit_lets_the_caller_join(lobby_pbx: Pbx, make_stack) -> None:
    stack, lobby = await lobby_stack(make_stack, lobby_pbx)
    room = await stack.service.create_room(name="Board", conference_id="4321", actor="t",
                                           options={"lobby": True})  # fmt: skip
    call, arrival = await waiting_caller(stack, "admit", hold_ms=TIMEOUT * 1000 + 7000)
    assert (arrival.room_id, arrival.conference_id, arrival.caller) == (room.id, "4321", "alice")
    assert arrival.endpoint == "alice" and time.time() < arrival.until <= time.time() + TIMEOUT
    assert (await lobby.keys())[arrival.uniqueid].state == LOBBY_WAITING
    assert stack.tracker.count(room.id) == 0  # waiting is not being in the call

    request, _ = await stack.service.lobby_arrived(
        room.id, arrival.uniqueid, caller_number=arrival.caller, caller_name=arrival.caller_name,
        endpoint=arrival.endpoint, until=arrival.until,
    )  # fmt: skip
    decided = await stack.service.decide_lobby(request.id, True, gate=lobby, actor="slack:UOWN")
    assert decided.decided_by == "slack:UOWN"
    await eventually(lambda: results(stack, arrival.uniqueid) == [LobbyResult.ADMITTED],
                     what="admitted")  # fmt: skip
    await eventually(lambda: stack.tracker.count(room.id) == 1, what="caller joined")
    [person] = stack.tracker.participants(room.id)
    assert person.uniqueid == arrival.uniqueid
    assert arrival.uniqueid not in await lobby.keys()  # the dialplan removed its key
    # Past the time limit, still in the call: being admitted ends the lobby's clock.
    await eventually(lambda: time.time() > arrival.until + 1, timeout=TIMEOUT + 3, what="limit")
    assert stack.tracker.count(room.id) == 1
    assert results(stack, arrival.uniqueid) == [LobbyResult.ADMITTED]
    with pytest.raises(LobbySettled):  # a second click finds it decided
        await stack.service.decide_lobby(request.id, False, gate=lobby, actor="slack:UOWN")
    assert (await call).ok


async def test_refuse_plays_goodbye_and_hangs_up(lobby_pbx: Pbx, make_stack) -> None:
    stack, lobby = await lobby_stack(make_stack, lobby_pbx)
    room = await stack.service.create_room(name="Board", conference_id="4321", actor="t",
                                           options={"lobby": True})  # fmt: skip
    call, arrival = await waiting_caller(stack, "refuse", wait_for_hangup=True)
    request, _ = await stack.service.lobby_arrived(
        room.id, arrival.uniqueid, caller_number=arrival.caller, caller_name="",
        endpoint=arrival.endpoint, until=arrival.until,
    )  # fmt: skip
    started = time.monotonic()
    await stack.service.decide_lobby(request.id, False, gate=lobby, actor="cli:ops")
    result = await asyncio.wait_for(call, 20)
    assert result.ok, result.log  # the server hung up (BYE), as wait_for_hangup expects
    assert time.monotonic() - started < TIMEOUT  # the refusal did it, not the time limit
    assert results(stack, arrival.uniqueid) == [LobbyResult.REFUSED]
    assert stack.tracker.count(room.id) == 0
    assert not any(u.uniqueid == arrival.uniqueid for u in stack.tracker.participants(room.id))
    assert arrival.uniqueid not in await lobby.keys()
    audit = await stack.service.audit_log(5)
    assert any(e.action == "lobby.refuse" and e.actor == "cli:ops" for e in audit)


async def test_a_member_who_is_no_owner_cannot_admit(lobby_pbx: Pbx, make_stack) -> None:
    stack, lobby = await lobby_stack(make_stack, lobby_pbx)
    room = await stack.service.create_room(name="Board", conference_id="4321", actor="t",
                                           options={"lobby": True})  # fmt: skip
    call, arrival = await waiting_caller(stack, "member", wait_for_hangup=True)
    request, _ = await stack.service.lobby_arrived(
        room.id, arrival.uniqueid, caller_number=arrival.caller, caller_name="",
        endpoint=arrival.endpoint, until=arrival.until,
    )  # fmt: skip
    with pytest.raises(errors.NotAllowed):
        await stack.service.decide_lobby(request.id, True, gate=lobby, actor="slack:UMEMBER",
                                         role=Role.MEMBER)  # fmt: skip
    assert (await lobby.keys())[arrival.uniqueid].state == LOBBY_WAITING  # nothing written
    [refusal] = [e for e in await stack.service.audit_log(5) if e.actor == "slack:UMEMBER"]
    assert refusal.action == "room.refused" and "lobby" in refusal.summary
    # Nobody answers: the time limit sends the caller away, never into the room.
    result = await asyncio.wait_for(call, TIMEOUT + 15)
    assert result.ok, result.log
    assert results(stack, arrival.uniqueid) == [LobbyResult.TIMEOUT]
    assert stack.tracker.count(room.id) == 0
    finished = await stack.service.lobby_finished(arrival.uniqueid, LobbyStatus.TIMEOUT)
    assert finished is not None and finished.status is LobbyStatus.TIMEOUT


async def test_hanging_up_while_waiting_removes_the_key(lobby_pbx: Pbx, make_stack) -> None:
    stack, lobby = await lobby_stack(make_stack, lobby_pbx)
    await stack.service.create_room(name="Board", conference_id="4321", actor="t",
                                    options={"lobby": True})  # fmt: skip
    call, arrival = await waiting_caller(stack, "left", hold_ms=2000)
    assert (await call).ok  # the caller hung up (BYE from sipp) while waiting
    await eventually(lambda: results(stack, arrival.uniqueid) == [LobbyResult.LEFT], what="left")
    assert arrival.uniqueid not in await lobby.keys()
    assert not await lobby.decide(arrival.room_id, arrival.uniqueid, True)  # nothing to admit
    assert arrival.uniqueid not in await lobby.keys()  # and no stray key written


async def test_a_waiting_caller_is_read_back_from_the_channel(lobby_pbx: Pbx, make_stack) -> None:
    stack, lobby = await lobby_stack(make_stack, lobby_pbx)
    await stack.service.create_room(name="Board", conference_id="4321", actor="t",
                                    options={"lobby": True})  # fmt: skip
    call, arrival = await waiting_caller(stack, "describe", caller="bob",
                                         password="bob-password-1", hold_ms=3000)  # fmt: skip
    key = (await lobby.keys())[arrival.uniqueid]
    described = await lobby.describe(key)
    assert described == arrival
    assert (await call).ok


async def test_the_moderator_pin_skips_the_lobby(lobby_pbx: Pbx, make_stack) -> None:
    stack, _lobby = await lobby_stack(make_stack, lobby_pbx)
    room = await stack.service.create_room(
        name="Board", conference_id="4321", actor="t", moderator_pin="97531",
        options={"lobby": True},
    )  # fmt: skip
    call = asyncio.create_task(lobby_pbx.sipp.call("800", dtmf="4321#97531#", hold_ms=3000,
                                                   tag="moderator"))  # fmt: skip
    await eventually(lambda: stack.tracker.count(room.id) == 1, what="moderator in")
    assert not arrivals(stack)  # straight in: no lobby
    assert (await call).ok


def test_module_pbx_has_the_short_limit(lobby_pbx: Pbx) -> None:
    rendered = (Path(lobby_pbx.cfg.etc_dir) / "extensions.conf").read_text()
    assert f"LOBBY_TIMEOUT={TIMEOUT}" in rendered
