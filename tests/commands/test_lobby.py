"""The lobby end to end: a real Asterisk with sipp callers, the real Bolt app (signed
requests), the fake Slack Web API. A caller waiting in a room's lobby is announced in the
channel of the room's dial-in card (else the admins'), with Admit and Refuse; only owners
and admins decide; the message follows what happened, also across a bot restart."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from slack_sdk.models.blocks import Block

from bot.config import Settings
from bot.models import LobbyStatus, Role
from bot.repository import Repository
from bot.service import ConferenceService
from bot.wiring import Deps, Telephony, build_telephony
from commands import ids
from commands.app import SlackRunner, start_slack, web_client
from commands.context import actor
from commands.live_cards import LiveCards
from commands.slack_settings import EVENTS_PATH, SlackSettings
from deploy.install import AsteriskInstall
from telephony.lobby import PbxLobby
from tests.commands.conftest import ADMIN_CHANNEL, ALICE, CHANNEL, HttpDriver, environ
from tests.commands.test_live_cards import post_card
from tests.fake_slack import Call, FakeSlack
from tests.pbx_fixtures import TRUNK_IP, Pbx, eventually, make_pbx

TIMEOUT = 10  # PBX_LOBBY_TIMEOUT of this module's PBX: seconds
BOB = "UBOB"  # a member who owns nothing
NUMBER = "+15557654321"  # the server's number, for trunk callers
CALLER = "+15551234567"  # a trunk caller: shown as (…4567)


@pytest.fixture(scope="module")
def lobby_pbx(install: AsteriskInstall, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pbx]:
    base = tmp_path_factory.mktemp("lobby-slack")
    pbx = make_pbx(install, base / "run", base / "sipp")
    pbx.cfg = dataclasses.replace(pbx.cfg, lobby_timeout=TIMEOUT)
    pbx.start()
    yield pbx
    pbx.stop()


@dataclass
class Bot:
    """One running bot: database, telephony (with the lobby) and the Slack front end."""

    repo: Repository
    service: ConferenceService
    tel: Telephony
    lobby: PbxLobby
    runner: SlackRunner
    session: aiohttp.ClientSession
    slack: HttpDriver
    stopped: bool = False

    async def stop(self) -> None:
        self.stopped = True
        await self.runner.stop()
        await self.lobby.close()
        await self.tel.ami.close()
        await self.tel.sync.close()
        await self.session.close()
        await self.repo.close()


@pytest.fixture
async def start_bot(
    lobby_pbx: Pbx, fake: FakeSlack, tmp_path: Path
) -> AsyncIterator[Callable[[], Awaitable[Bot]]]:
    """Starts a bot on this test's database and the module's PBX; each call starts another
    (a restart, once the previous one is stopped)."""
    running: list[Bot] = []

    async def start() -> Bot:
        repo = await Repository.open(tmp_path / "conference.db")
        service = ConferenceService(repo)
        if await service.get_server() is None:
            await service.setup_server("800", "test")
            await service.assign_number(NUMBER, "test")
        tel = build_telephony(service, host="127.0.0.1", port=lobby_pbx.cfg.ami_port,
                              username=lobby_pbx.creds.username,
                              secret=lobby_pbx.creds.password)  # fmt: skip
        lobby = PbxLobby(tel.ami)
        lobby.subscribe()
        await tel.ami.start()
        assert await tel.ami.wait_ready(20)
        await eventually(lambda: tel.tracker.online and tel.sync.synced, what="first sync")
        deps = Deps(Settings.from_environ({}, cwd=tmp_path), service, tel.ami, tel.tracker,
                    tel.actions, lobby=lobby)  # fmt: skip
        settings = SlackSettings.from_environ(environ(fake))
        session = aiohttp.ClientSession()
        live = LiveCards(deps, web_client(settings, session), min_interval=0.05)
        runner = await start_slack(deps, settings, live=live)
        url = f"http://127.0.0.1:{runner.http_port}{EVENTS_PATH}"
        bot = Bot(repo, service, tel, lobby, runner, session, HttpDriver(fake, url, session))
        running.append(bot)
        return bot

    yield start
    for bot in running:
        if not bot.stopped:
            await bot.stop()


def text(call: Call) -> str:
    return str(call.args.get("text", "")) + str(call.args.get("blocks", ""))


async def remembered(bot: Bot) -> bool:
    """Every waiting request knows its message (the bot saved the post's ts)."""
    waiting = await bot.service.lobby_waiting()
    return bool(waiting) and all(r.ts is not None for r in waiting)


async def asked(fake: FakeSlack, count: int = 1) -> Call:
    """The ``count``-th lobby message posted, its blocks valid for Slack."""
    posted = await fake.wait_for("chat.postMessage", lambda c: "wants to join" in text(c),
                                 count=count, timeout=15)  # fmt: skip
    for block in Block.parse_all(posted.args["blocks"]):
        block.validate_json()
    return posted


async def updated(fake: FakeSlack, posted: Call, words: str, timeout: float = 15) -> Call:
    ts = _posted_ts(fake, posted)
    return await fake.wait_for(
        "chat.update", lambda c: c.args.get("ts") == ts and words in text(c), timeout=timeout
    )


def _posted_ts(fake: FakeSlack, posted: Call) -> str:
    """The ts the fake answered the post with (posts are numbered in order)."""
    n = fake.calls_to("chat.postMessage").index(posted) + 1
    return f"{1700000000 + n}.{n:06d}"


def admit_button(posted: Call) -> dict[str, Any]:
    [actions] = [b for b in posted.args["blocks"] if b.get("block_id") == ids.LOBBY_ACTIONS_BLOCK]
    return {e["action_id"]: e["value"] for e in actions["elements"]}


async def trunk_caller(pbx: Pbx, tag: str, **call: Any) -> asyncio.Task[Any]:
    return asyncio.create_task(pbx.sipp.call(NUMBER, dtmf="4321#", local_ip=TRUNK_IP,
                                             caller=CALLER, password=None, tag=tag,
                                             **call))  # fmt: skip


async def click(bot: Bot, posted: Call, action_id: str, user: str) -> None:
    value = admit_button(posted)[action_id]
    where = {"ts": _posted_ts(bot.slack.fake, posted), "text": posted.args["text"]}
    reply = await bot.slack.click(action_id, value, user=user,
                                  channel=str(posted.args["channel"]), message=where)  # fmt: skip
    assert reply.status == 200


async def owned_room(bot: Bot) -> int:
    room = await bot.service.create_room(name="Sales <weekly>", conference_id="4321",
                                         actor=actor(ALICE), role=Role.MEMBER,
                                         options={"lobby": True})  # fmt: skip
    return room.id


async def test_an_owner_admits_from_the_card_channel(
    start_bot: Callable[[], Awaitable[Bot]], lobby_pbx: Pbx, fake: FakeSlack
) -> None:
    bot = await start_bot()
    room_id = await owned_room(bot)
    await post_card(bot.slack, bot.service, "4321")
    call = await trunk_caller(lobby_pbx, "admit", hold_ms=8000)
    posted = await asked(fake)
    assert posted.args["channel"] == CHANNEL  # where the room's card is
    shown = text(posted)
    assert "(…4567) wants to join" in shown and "Sales &lt;weekly&gt;" in shown
    assert CALLER not in shown and "4567" in shown  # the number is masked in a channel
    assert set(admit_button(posted)) == {ids.LOBBY_ADMIT, ids.LOBBY_REFUSE}

    await click(bot, posted, ids.LOBBY_ADMIT, ALICE)
    await eventually(lambda: bot.tel.tracker.count(room_id) == 1, what="ConfbridgeJoin")
    assert bot.tel.tracker.participants(room_id)[0].caller_id_num == CALLER
    done = await updated(fake, posted, "was admitted")
    assert f"<@{ALICE}>" in text(done) and ids.LOBBY_ADMIT not in text(done)  # no buttons
    [request] = [r for r in await _all(bot) if r.room_id == room_id]
    assert request.status is LobbyStatus.ADMITTED and request.decided_by == actor(ALICE)
    assert any(e.action == "lobby.admit" and e.actor == actor(ALICE)
               for e in await bot.service.audit_log(10))  # fmt: skip
    assert (await call).ok


async def test_a_member_who_is_no_owner_is_refused_then_the_owner_refuses(
    start_bot: Callable[[], Awaitable[Bot]], lobby_pbx: Pbx, fake: FakeSlack
) -> None:
    bot = await start_bot()
    room_id = await owned_room(bot)
    call = await trunk_caller(lobby_pbx, "refuse", wait_for_hangup=True)
    posted = await asked(fake)
    assert posted.args["channel"] == ADMIN_CHANNEL  # no card: the admins are asked

    await click(bot, posted, ids.LOBBY_ADMIT, BOB)
    said = await fake.wait_for("response_url", lambda c: "Only the owners" in text(c))
    assert said.args.get("response_type") == "ephemeral"
    refusal = [e for e in await bot.service.audit_log(10) if e.actor == actor(BOB)]
    assert [e.action for e in refusal] == ["room.refused"]
    assert bot.tel.tracker.count(room_id) == 0
    assert [k.state for k in (await bot.lobby.keys()).values()] == ["waiting"]

    await click(bot, posted, ids.LOBBY_REFUSE, ALICE)
    result = await asyncio.wait_for(call, 20)
    assert result.ok, result.log  # the goodbye, then the PBX's BYE
    done = await updated(fake, posted, "was refused")
    assert f"<@{ALICE}>" in text(done)
    assert bot.tel.tracker.count(room_id) == 0
    assert not await bot.lobby.keys()


async def test_a_caller_who_hangs_up_while_waiting(
    start_bot: Callable[[], Awaitable[Bot]], lobby_pbx: Pbx, fake: FakeSlack
) -> None:
    bot = await start_bot()
    await owned_room(bot)
    call = await trunk_caller(lobby_pbx, "left", hold_ms=2000)
    posted = await asked(fake)
    assert (await call).ok
    await updated(fake, posted, "hung up while waiting")
    await click(bot, posted, ids.LOBBY_ADMIT, ALICE)  # a late click admits nobody
    await fake.wait_for("response_url", lambda c: "no longer waiting" in text(c))
    assert not await bot.lobby.keys()


async def test_a_restarted_bot_still_admits_from_the_old_message(
    start_bot: Callable[[], Awaitable[Bot]], lobby_pbx: Pbx, fake: FakeSlack
) -> None:
    first = await start_bot()
    room_id = await owned_room(first)
    call = await trunk_caller(lobby_pbx, "restart-admit", hold_ms=TIMEOUT * 1000)
    posted = await asked(fake)
    await eventually(lambda: remembered(first), what="message saved")
    await first.stop()

    second = await start_bot()  # the same database and PBX; a new AMI, Slack app, port
    assert [r.status for r in await second.service.lobby_waiting()] == [LobbyStatus.WAITING]
    await click(second, posted, ids.LOBBY_ADMIT, ALICE)
    await eventually(lambda: second.tel.tracker.count(room_id) == 1, what="admitted")
    await updated(fake, posted, "was admitted")
    assert len([c for c in fake.calls_to("chat.postMessage") if "wants to join" in text(c)]) == 1
    assert (await call).ok


async def test_a_timeout_and_an_arrival_while_the_bot_is_down(
    start_bot: Callable[[], Awaitable[Bot]], lobby_pbx: Pbx, fake: FakeSlack
) -> None:
    first = await start_bot()
    room_id = await owned_room(first)
    early = await trunk_caller(lobby_pbx, "restart-timeout", wait_for_hangup=True)
    posted = await asked(fake)
    await eventually(lambda: remembered(first), what="message saved")
    [waiting] = await first.service.lobby_waiting()
    limit = datetime.fromisoformat(waiting.expires_at).timestamp()
    await first.stop()

    # Another caller reaches the lobby while no bot runs, about when the first one's time
    # is up (so it still waits once the bot is back).
    await eventually(lambda: time.time() >= limit - 2, timeout=TIMEOUT + 5, what="near limit")
    late = asyncio.create_task(lobby_pbx.sipp.call("800", dtmf="4321#", caller="bob",
                                                   password="bob-password-1",
                                                   hold_ms=TIMEOUT * 1000,
                                                   tag="while-down"))  # fmt: skip
    result = await asyncio.wait_for(early, TIMEOUT + 20)  # timed out with no bot running
    assert result.ok, result.log
    second = await start_bot()
    await updated(fake, posted, "nobody answered in time")  # caught up at the reconnect
    again = await asked(fake, count=2)  # the caller who came while the bot was down
    assert "(bob) wants to join" in text(again)
    await click(second, again, ids.LOBBY_ADMIT, ALICE)
    await eventually(lambda: second.tel.tracker.count(room_id) == 1, what="late one admitted")
    await updated(fake, again, "was admitted")
    statuses = sorted(r.status.value for r in await _all(second))
    assert statuses == ["admitted", "timeout"]
    assert (await late).ok


async def _all(bot: Bot) -> list[Any]:
    async with bot.repo.read() as repo:
        rows = await repo._all("SELECT uniqueid FROM lobby_requests ORDER BY id")
        return [await repo.lobby_request_by_uniqueid(r[0]) for r in rows]
