"""The real Bolt app, driven with requests in Slack's own formats, against a fake Web API.

``slack`` runs the app through ``start_slack`` in HTTP mode: requests are signed exactly as
Slack signs them and posted to ``/slack/events``. ``socket_slack`` runs it in Socket Mode:
the same payloads arrive as envelopes over the fake's WebSocket. Both drivers have the same
methods, so a test can run over either.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode

import aiohttp
import pytest
from panoramisk.message import Message

from bot.config import Settings
from bot.service import ConferenceService
from bot.wiring import Deps, build_telephony
from commands.app import SlackRunner, start_slack, web_client
from commands.live_cards import LiveCards
from commands.slack_settings import EVENTS_PATH, SlackSettings
from telephony.ami import AmiClient
from telephony.naming import bridge_name
from telephony.pbx_actions import PbxActions
from telephony.tracker import ParticipantTracker
from tests.fake_slack import TEAM, FakeSlack
from tests.pbx_fixtures import Pbx
from tests.pbx_fixtures import eventually as eventually_true

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ADMIN = "UADMIN"  # a workspace admin, per the fake's users.info
LISTED_ADMIN = "ULISTED"  # an admin through SLACK_ADMIN_USERS
ALICE = "UALICE"  # an ordinary member
ADMIN_CHANNEL = "CADMINS"
CHANNEL = "CGENERAL"

_ids = itertools.count(1)
T = TypeVar("T")


# -- Slack's payloads ------------------------------------------------------------------------


def sign(body: str, *, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = f"v0:{ts}:{body}".encode()
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def slash_command(text: str, *, user: str, channel: str, response_url: str) -> dict[str, str]:
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "team_domain": "test",
        "channel_id": channel,
        "channel_name": "general",
        "user_id": user,
        "user_name": user.lower(),
        "command": "/conference",
        "text": text,
        "api_app_id": "A0TEST",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": f"{next(_ids)}.1234.abcdef",
    }


def _user(user: str) -> dict[str, str]:
    return {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM}


def block_actions(
    action_id: str,
    value: str,
    *,
    user: str,
    response_url: str | None,
    channel: str | None = None,
    message: Mapping[str, Any] | None = None,
    block_id: str = "b",
) -> dict[str, Any]:
    """A button click: on a message when ``channel`` is given, else on the Home tab."""
    action = {
        "action_id": action_id,
        "block_id": block_id,
        "text": {"type": "plain_text", "text": "Button", "emoji": True},
        "value": value,
        "type": "button",
        "action_ts": f"{time.time():.6f}",
    }
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(user),
        "api_app_id": "A0TEST",
        "token": "legacy-verification-token",
        "trigger_id": f"{next(_ids)}.1234.abcdef",
        "team": {"id": TEAM, "domain": "test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "state": {"values": {}},
        "actions": [action],
    }
    if channel is not None:
        ts = str((message or {}).get("ts", "1700000000.000001"))
        payload["container"] = {
            "type": "message",
            "message_ts": ts,
            "channel_id": channel,
            "is_ephemeral": False,
        }
        payload["channel"] = {"id": channel, "name": "channel"}
        payload["message"] = {"type": "message", "user": "UBOT", "ts": ts, **(message or {})}
    else:
        payload["container"] = {"type": "view", "view_id": "V0HOME"}
        payload["view"] = {"id": "V0HOME", "type": "home", "callback_id": "home"}
    if response_url is not None:
        payload["response_url"] = response_url
    return payload


def fill(view: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The ``state.values`` Slack sends for ``view`` when the person typed ``values`` (by
    block ID); other inputs keep their initial value, as in a real submission."""
    state: dict[str, Any] = {}
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        element = block["element"]
        kind = element["type"]
        given = values.get(block["block_id"])
        if kind in ("plain_text_input", "number_input"):
            value = given if block["block_id"] in values else element.get("initial_value")
            entry: dict[str, Any] = {"type": kind, "value": value or None}
        elif kind == "static_select":
            option = element.get("initial_option")
            if given is not None:
                option = next(o for o in element["options"] if o["value"] == given)
            entry = {"type": kind, "selected_option": option}
        elif kind == "checkboxes":
            # True: every option ticked; a list or set: the options with those values;
            # not given: as the form opened (its initial_options).
            if block["block_id"] not in values:
                ticked = element.get("initial_options", [])
            elif isinstance(given, list | set | tuple | frozenset):
                ticked = [o for o in element["options"] if o["value"] in given]
            else:
                ticked = element["options"] if given else []
            entry = {"type": kind, "selected_options": ticked}
        elif kind == "conversations_select":
            entry = {"type": kind, "selected_conversation": given}
        else:
            raise AssertionError(f"fill() does not know {kind}")
        state[block["block_id"]] = {element["action_id"]: entry}
    return state


def view_submission(
    view: Mapping[str, Any], values: Mapping[str, Any], *, user: str
) -> dict[str, Any]:
    """Submitting a modal the app opened (as recorded by the fake's views.open)."""
    return {
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "test"},
        "user": _user(user),
        "api_app_id": "A0TEST",
        "token": "legacy-verification-token",
        "trigger_id": f"{next(_ids)}.1234.abcdef",
        "view": {
            "id": "V0MODAL",
            "team_id": TEAM,
            "type": "modal",
            "blocks": view["blocks"],
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view["callback_id"],
            "state": {"values": fill(view, values)},
            "hash": "1700000000.abcdef",
            "title": view["title"],
            "clear_on_close": False,
            "notify_on_close": False,
            "root_view_id": "V0MODAL",
            "app_id": "A0TEST",
            "bot_id": "BBOT",
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def app_home_opened(user: str) -> dict[str, Any]:
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "api_app_id": "A0TEST",
        "event": {
            "type": "app_home_opened",
            "user": user,
            "channel": "D0HOME",
            "tab": "home",
            "event_ts": f"{time.time():.6f}",
        },
        "type": "event_callback",
        "event_id": f"Ev{next(_ids):08d}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": TEAM,
                "user_id": "UBOT",
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 5.0) -> T:
    """The first truthy result of ``check``: work after an ack finishes after the answer."""
    deadline = time.monotonic() + timeout
    while not (result := await check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"still {result!r} after {timeout}s")
        await asyncio.sleep(0.01)
    return result


# -- drivers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any  # parsed JSON, or the raw text ("" for a bare acknowledgement)


class Driver(Protocol):
    fake: FakeSlack

    async def command(self, text: str, *, user: str = ..., channel: str = ...) -> Reply: ...

    async def interact(self, payload: dict[str, Any]) -> Reply: ...

    async def event(self, payload: dict[str, Any]) -> Reply: ...


class _Base:
    fake: FakeSlack

    def response_url(self) -> str:
        return self.fake.response_url(f"r{next(_ids)}")

    async def click(
        self,
        action_id: str,
        value: str,
        *,
        user: str,
        channel: str | None = None,
        message: Mapping[str, Any] | None = None,
    ) -> Reply:
        url = self.response_url() if channel else None
        payload = block_actions(
            action_id, value, user=user, response_url=url, channel=channel, message=message
        )
        return await self.interact(payload)  # type: ignore[attr-defined,no-any-return]

    async def submit(
        self, view: Mapping[str, Any], values: Mapping[str, Any], *, user: str
    ) -> Reply:
        return await self.interact(view_submission(view, values, user=user))  # type: ignore[attr-defined,no-any-return]


class HttpDriver(_Base):
    """Signed requests to the app's /slack/events, as Slack sends them."""

    def __init__(self, fake: FakeSlack, url: str, session: aiohttp.ClientSession) -> None:
        self.fake = fake
        self.url = url
        self.session = session

    async def post(
        self, body: str, content_type: str, headers: Mapping[str, str] | None = None
    ) -> Reply:
        all_headers = {"Content-Type": content_type, **(headers or {})}
        async with self.session.post(self.url, data=body.encode(), headers=all_headers) as resp:
            text = await resp.text()
            try:
                parsed: Any = json.loads(text) if text else ""
            except json.JSONDecodeError:
                parsed = text
            return Reply(resp.status, parsed)

    async def signed(self, body: str, content_type: str) -> Reply:
        return await self.post(body, content_type, sign(body))

    async def command(self, text: str, *, user: str = ALICE, channel: str = CHANNEL) -> Reply:
        form = slash_command(text, user=user, channel=channel, response_url=self.response_url())
        return await self.signed(urlencode(form), "application/x-www-form-urlencoded")

    async def interact(self, payload: dict[str, Any]) -> Reply:
        body = urlencode({"payload": json.dumps(payload)})
        return await self.signed(body, "application/x-www-form-urlencoded")

    async def event(self, payload: dict[str, Any]) -> Reply:
        return await self.signed(json.dumps(payload), "application/json")


class SocketDriver(_Base):
    """The same payloads, delivered as Socket Mode envelopes."""

    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake

    async def _send(self, kind: str, payload: dict[str, Any]) -> Reply:
        ack = await self.fake.send_envelope(kind, payload)
        return Reply(200, ack.get("payload", ""))

    async def command(self, text: str, *, user: str = ALICE, channel: str = CHANNEL) -> Reply:
        form = slash_command(text, user=user, channel=channel, response_url=self.response_url())
        return await self._send("slash_commands", dict(form))

    async def interact(self, payload: dict[str, Any]) -> Reply:
        return await self._send("interactive", payload)

    async def event(self, payload: dict[str, Any]) -> Reply:
        return await self._send("events_api", payload)


# -- the AMI side --------------------------------------------------------------------------


def join(
    tracker: ParticipantTracker,
    room_id: int,
    uid: str,
    number: str = "1001",
    *,
    name: str | None = None,
    moderator: bool = False,
) -> None:
    """A caller joins, as Asterisk reports it (``name`` defaults to "Caller NUMBER")."""
    tracker._on_join(
        Message(
            {
                "Event": "ConfbridgeJoin",
                "Privilege": "call,all",
                "Timestamp": f"{time.time():.6f}",
                "Conference": bridge_name(room_id),
                "BridgeUniqueid": "b1c2",
                "Channel": f"PJSIP/{number}-{uid}",
                "ChannelState": "6",
                "ChannelStateDesc": "Up",
                "CallerIDNum": number,
                "CallerIDName": f"Caller {number}" if name is None else name,
                "Uniqueid": uid,
                "Admin": "Yes" if moderator else "No",
                "Muted": "No",
            }
        )
    )


def leave(tracker: ParticipantTracker, room_id: int, uid: str) -> None:
    tracker._on_leave(
        Message(
            {
                "Event": "ConfbridgeLeave",
                "Timestamp": f"{time.time():.6f}",
                "Conference": bridge_name(room_id),
                "Channel": f"PJSIP/1001-{uid}",
                "Uniqueid": uid,
            }
        )
    )


def caller_event(tracker: ParticipantTracker, event: str, room_id: int, uid: str,
                 **fields: str) -> None:  # fmt: skip
    """A caller's ConfbridgeMute/Unmute or ConfbridgeTalking (``TalkingStatus="on"``)."""
    handlers = {"ConfbridgeMute": tracker._on_mute, "ConfbridgeUnmute": tracker._on_unmute,
                "ConfbridgeTalking": tracker._on_talking}  # fmt: skip
    handlers[event](
        Message(
            {
                "Event": event,
                "Timestamp": f"{time.time():.6f}",
                "Conference": bridge_name(room_id),
                "Channel": f"PJSIP/1001-{uid}",
                "Uniqueid": uid,
                **fields,
            }
        )  # fmt: skip
    )


def room_event(tracker: ParticipantTracker, event: str, room_id: int) -> None:
    """ConfbridgeLock/Unlock or ConfbridgeRecord/StopRecord, as Asterisk reports them."""
    handlers = {"ConfbridgeLock": tracker._on_lock, "ConfbridgeUnlock": tracker._on_unlock,
                "ConfbridgeRecord": tracker._on_record,
                "ConfbridgeStopRecord": tracker._on_stop_record}  # fmt: skip
    handlers[event](
        Message(
            {"Event": event, "Timestamp": f"{time.time():.6f}", "Conference": bridge_name(room_id)}
        )  # fmt: skip
    )


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = await FakeSlack(admins={ADMIN}).start()
    yield server
    await server.close()


@asynccontextmanager
async def pbx_deps(service: ConferenceService, pbx: Pbx, tmp_path: Path) -> AsyncIterator[Deps]:
    """The real telephony stack on ``pbx`` (AMI, tracker, AstDB sync, actions recording into
    its recordings folder), for tests whose ``deps`` fixture replaces the never-started AMI
    client of the others: ``async with pbx_deps(service, shared_pbx, tmp_path) as deps``."""
    cfg = pbx.cfg
    tel = build_telephony(service, host="127.0.0.1", port=cfg.ami_port,
                          username=pbx.creds.username, secret=pbx.creds.password,
                          recordings_dir=cfg.recordings_dir)  # fmt: skip
    await tel.ami.start()
    try:
        assert await tel.ami.wait_ready(20)
        await eventually_true(lambda: tel.tracker.online and tel.sync.synced, what="first sync")
        yield Deps(Settings.from_environ({}, cwd=tmp_path), service, tel.ami, tel.tracker,
                   tel.actions)  # fmt: skip
    finally:
        await tel.ami.close()
        await tel.sync.close()


@pytest.fixture
def tracker() -> ParticipantTracker:
    return ParticipantTracker()


@pytest.fixture
def deps(service: ConferenceService, tracker: ParticipantTracker, tmp_path: Path) -> Deps:
    # Never started: connected stays False, so the PBX reads as offline unless a test
    # sets tracker.online (as a resync with a ready AMI connection would).
    ami = AmiClient(host="127.0.0.1", port=1, username="bot", secret="unused")
    return Deps(
        settings=Settings.from_environ({}, cwd=tmp_path),
        service=service,
        ami=ami,
        tracker=tracker,
        pbx=PbxActions(ami, tracker),
    )


def environ(fake: FakeSlack, **extra: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_ADMIN_CHANNEL": ADMIN_CHANNEL,
        "SLACK_ADMIN_USERS": f"{LISTED_ADMIN}, UOTHER",
        "SLACK_API_URL": fake.api_url,
        "SLACK_HTTP_PORT": "0",
        **extra,
    }


@pytest.fixture
async def live(deps: Deps, fake: FakeSlack) -> AsyncIterator[LiveCards]:
    # One pooled session, as start_slack makes; a short interval keeps tests quick (the
    # coalescing test sets its own).
    async with aiohttp.ClientSession() as session:
        client = web_client(SlackSettings.from_environ(environ(fake)), session)
        yield LiveCards(deps, client, min_interval=0.05)


@pytest.fixture
async def runner(deps: Deps, fake: FakeSlack, live: LiveCards) -> AsyncIterator[SlackRunner]:
    running = await start_slack(deps, SlackSettings.from_environ(environ(fake)), live=live)
    yield running
    await running.stop()


@pytest.fixture
async def slack(runner: SlackRunner, fake: FakeSlack) -> AsyncIterator[HttpDriver]:
    url = f"http://127.0.0.1:{runner.http_port}{EVENTS_PATH}"
    async with aiohttp.ClientSession() as session:
        yield HttpDriver(fake, url, session)


@pytest.fixture
async def socket_slack(deps: Deps, fake: FakeSlack, live: LiveCards) -> AsyncIterator[SocketDriver]:
    env = environ(fake, SLACK_APP_TOKEN="xapp-1-test")
    running = await start_slack(deps, SlackSettings.from_environ(env), live=live)
    assert running.mode == "socket"
    await fake.wait_socket()
    yield SocketDriver(fake)
    await running.stop()
