"""The roster against a real Asterisk: two sipp callers, mute one from Slack (ConfbridgeMute
and the roster shows it), remove them (they get a BYE and leave the roster), end the call."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from panoramisk.message import Message

from bot.service import ConferenceService
from bot.wiring import Deps
from commands import ids
from tests.commands.conftest import ADMIN, HttpDriver, block_actions, pbx_deps
from tests.commands.test_roster import opened_id
from tests.fake_slack import Call
from tests.pbx_fixtures import Pbx, eventually


@pytest.fixture
async def deps(service: ConferenceService, shared_pbx: Pbx, tmp_path: Path) -> AsyncIterator[Deps]:
    """The real telephony stack in place of the never-started AMI client of the other tests."""
    async with pbx_deps(service, shared_pbx, tmp_path) as real:
        yield real


def click_in(view_id: str, action_id: str, value: str) -> dict[str, Any]:
    payload = block_actions(action_id, value, user=ADMIN, response_url=None)
    payload["container"] = {"type": "view", "view_id": view_id}
    payload["view"] = {"id": view_id, "type": "modal", "callback_id": ids.ROSTER_VIEW}
    return payload


async def shown(slack: HttpDriver, view_id: str, text: str, timeout: float = 10) -> Call:
    def match(call: Call) -> bool:
        view = json.dumps(call.args.get("view"), ensure_ascii=False)
        return call.args.get("view_id") == view_id and text in view

    return await slack.fake.wait_for("views.update", match, timeout=timeout)


async def test_mute_kick_and_end_from_the_roster(
    slack: HttpDriver, service: ConferenceService, deps: Deps, shared_pbx: Pbx
) -> None:
    room = await service.create_room(name="Ops", conference_id="4646", actor="t")
    mutes: list[Message] = []
    deps.ami.register_event("ConfbridgeMute", lambda msg: mutes.append(msg))
    callers = {
        who: asyncio.create_task(shared_pbx.sipp.call(
            "800", dtmf="4646#", caller=who, password=f"{who}-password-1",
            wait_for_hangup=True, tag=f"roster-{who}"))
        for who in ("alice", "bob")
    }  # fmt: skip
    try:
        await eventually(lambda: deps.tracker.count(room.id) == 2, timeout=20, what="two in")
        people = {p.caller_id_num: p for p in deps.tracker.participants(room.id)}
        alice, bob = people["alice"], people["bob"]

        await slack.command("who Ops", user=ADMIN)
        opened = await slack.fake.wait_for("views.open")
        view = json.dumps(opened.args["view"])
        assert "2 people in the call" in view and "alice" in view and "bob" in view
        view_id = opened_id(slack, opened)

        value = f"{room.id}:{alice.uniqueid}"
        assert value in view
        await slack.interact(click_in(view_id, ids.ROSTER_MUTE, value))
        await eventually(lambda: any(m.get("Uniqueid") == alice.uniqueid for m in mutes),
                         what="ConfbridgeMute")  # fmt: skip
        # The roster itself shows it (a click that worked adds no notice of its own).
        muted = await shown(slack, view_id, ":mute: muted")
        lines = [b["text"]["text"] for b in muted.args["view"]["blocks"] if "text" in b]
        (alice_line,) = [t for t in lines if "alice" in t and "joined" in t]
        assert ":mute: muted" in alice_line
        assert ":white_check_mark:" not in json.dumps(muted.args["view"], ensure_ascii=False)

        await slack.interact(click_in(view_id, ids.ROSTER_KICK, value))
        kicked = await asyncio.wait_for(callers["alice"], 20)
        assert kicked.ok, kicked.log  # the PBX hung up on her (BYE)
        dropped = await shown(slack, view_id, "1 person in the call")
        assert alice.uniqueid not in json.dumps(dropped.args["view"])
        assert bob.uniqueid in json.dumps(dropped.args["view"])

        await slack.interact(click_in(view_id, ids.ROSTER_END, str(room.id)))
        ended = await asyncio.wait_for(callers["bob"], 20)
        assert ended.ok, ended.log
        await shown(slack, view_id, "nobody in the call")
        actions = [e.action for e in await service.audit_log(10)]
        assert {"call.mute", "call.kick", "call.end"} <= set(actions)
    finally:
        for task in callers.values():
            task.cancel()
        await asyncio.gather(*callers.values(), return_exceptions=True)
