"""Slack never reports as done a change the PBX did not take (issue 10, item 4): with
Asterisk frozen, the edit modal closes (the change is saved) and the person is told plainly
that callers still get the old settings; the approval of a deletion says the same, and the
request is still decided. Once Asterisk thaws, the sync applies both."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.config import Settings
from bot.models import RequestStatus
from bot.service import ConferenceService
from bot.wiring import Deps, build_telephony
from telephony.naming import PIN_KEY, room_family
from tests.commands.conftest import ADMIN, ADMIN_CHANNEL, ALICE, CHANNEL, HttpDriver
from tests.commands.test_deletion import request_deletion
from tests.commands.test_room_modals import open_modal
from tests.pbx_fixtures import Pbx, eventually


@contextmanager
def frozen(pbx: Pbx) -> Iterator[None]:
    pid = pbx.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


@pytest.fixture
async def deps(service: ConferenceService, own_pbx: Pbx, tmp_path: Path) -> AsyncIterator[Deps]:
    """The real telephony stack on a PBX of this test's own (it gets frozen)."""
    tel = build_telephony(service, host="127.0.0.1", port=own_pbx.cfg.ami_port,
                          username=own_pbx.creds.username,
                          secret=own_pbx.creds.password)  # fmt: skip
    await tel.ami.start()
    assert await tel.ami.wait_ready(20)
    await eventually(lambda: tel.tracker.online and tel.sync.up_to_date, what="first sync")
    yield Deps(Settings.from_environ({}, cwd=tmp_path), service, tel.ami, tel.tracker,
               tel.actions)  # fmt: skip
    await tel.ami.close()
    await tel.sync.close()


async def astdb_pin(deps: Deps, conference_id: str) -> str | None:
    listing = await deps.ami.list_action(
        {"Action": "DBGet", "Family": room_family(conference_id), "Key": PIN_KEY}
    )
    return next((str(m.get("Val", "")) for m in listing if "Val" in m), None)


async def test_modal_edit_during_a_freeze_says_it_is_not_applied(
    slack: HttpDriver, service: ConferenceService, deps: Deps, own_pbx: Pbx
) -> None:
    room = await service.create_room(name="Board", conference_id="4242", pin="1111",
                                      actor=f"slack:{ALICE}")  # fmt: skip
    view = await open_modal(slack, "edit board")
    with frozen(own_pbx):
        started = time.monotonic()
        reply = await slack.submit(view, {"pin": "2222"}, user=ALICE)
        answered = time.monotonic() - started
        told = await slack.fake.wait_for("chat.postEphemeral", timeout=15)
    assert (reply.status, reply.body) == (200, "")  # saved: the modal closes
    assert answered < 3.0  # inside Slack's 3 seconds
    text = told.args["text"]
    assert (told.args["user"], told.args["channel"]) == (ALICE, CHANNEL)
    assert "saved" in text and "did not confirm it" in text and "the old PIN still works" in text
    assert "applied as soon as the PBX answers" in text and "2222" not in text
    assert (await service.get_room_by_id(room.id)).pin == "2222"
    await eventually(lambda: _pin_is(deps, "4242", "2222"), timeout=5, what="applied")

    # With the PBX answering, the same modal just says it is saved.
    await slack.submit(view, {"pin": "3333"}, user=ALICE)
    done = await slack.fake.wait_for("chat.postEphemeral", count=2, timeout=15)
    assert done.args["text"].startswith("Room *Board* saved")
    assert await astdb_pin(deps, "4242") == "3333"


async def _pin_is(deps: Deps, conference_id: str, want: str) -> bool:
    return await astdb_pin(deps, conference_id) == want


async def test_approval_during_a_freeze_decides_and_says_it_is_not_applied(
    slack: HttpDriver, service: ConferenceService, deps: Deps, own_pbx: Pbx
) -> None:
    await service.create_room(name="Board", conference_id="4343", actor="t")
    message = await request_deletion(slack, "Board")
    (request,) = await service.list_requests(RequestStatus.PENDING)
    where = {"ts": "1700000001.000001", "text": message["text"]}
    with frozen(own_pbx):
        reply = await slack.click("deletion_approve", str(request.id), user=ADMIN,
                                  channel=ADMIN_CHANNEL, message=where)  # fmt: skip
        assert reply.status == 200
        warned = await slack.fake.wait_for("response_url", timeout=15)
    assert warned.args["response_type"] == "ephemeral"
    assert "deleted here" in warned.args["text"]
    assert "can still join it with conference ID 4343" in warned.args["text"]
    updated = await slack.fake.wait_for("chat.update", timeout=15)
    assert "Approved; the room is deleted" in updated.args["blocks"][-1]["text"]["text"]
    assert (await service.get_request(request.id)).status is RequestStatus.APPROVED
    await slack.fake.wait_for(
        "chat.postMessage", lambda c: c.args["channel"] == "DUALICE", timeout=15
    )

    async def gone() -> bool:
        return "4343" not in await _stored(deps)

    await eventually(gone, timeout=5, what="the deletion applied")


async def _stored(deps: Deps) -> set[str]:
    listing = await deps.ami.list_action(
        {"Action": "DBGetTree", "Family": "conference/rooms"}, strict=True
    )
    return {str(m.get("Key", "")).split("/")[3] for m in listing if "Key" in m}
