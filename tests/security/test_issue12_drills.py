"""Attack drills on browser join (issue 12), each a fast test against the real web server
and a real Asterisk behind it (fixtures shared with tests/webserver/test_server.py).

- The /ws relay is SIP into Asterisk from 127.0.0.1: a page's ticket must only ever speak
  as its own link (From user and digest username), never as a phone (alice), or any guest
  with a link could guess phone passwords past the per-address login bans.
- Two redeems of one link at once: exactly one wins.
- GET never redeems; the redeem answer is not cached; tokens and passwords are not logged.
- WebSocket frames are size-limited; one ticket cannot open a flood of relays.
- The page's script never writes HTML (names from Slack and ConfBridge go in as text).
"""

# ruff: noqa: F811 - the fixtures imported below are the tests' arguments
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot import errors
from bot.models import Role, Room
from deploy.settings import PbxConfig
from telephony.naming import PJSIP_ENDPOINT_FAMILY
from telephony.weblinks import WebLinks
from tests.pbx_fixtures import Stack
from tests.webserver.test_server import (  # noqa: F401 - fixtures
    base,
    clock,
    http,
    issue,
    jssip,
    room,
    stack,
)
from web import server as web_server

ALICE = ("alice", "alice-password-1")


async def redeem(http: aiohttp.ClientSession, base: str, token: str) -> tuple[int, Any]:
    async with http.post(f"{base}/api/link/{token}", headers={"Origin": base}) as res:
        return res.status, await res.json()


def register(user: str, call_id: str, cseq: int, auth: str = "") -> str:
    """A SIP REGISTER as a WebSocket client (RFC 7118) sends it, as ``user``."""
    return (
        "REGISTER sip:127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/WS x.invalid;branch=z9hG4bK{secrets.token_hex(6)}\r\n"
        "Max-Forwards: 70\r\n"
        f"To: <sip:{user}@127.0.0.1>\r\nFrom: <sip:{user}@127.0.0.1>;tag={call_id[:8]}\r\n"
        f"Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n"
        f"Contact: <sip:{user}@x.invalid;transport=ws>\r\nExpires: 60\r\n{auth}"
        "Content-Length: 0\r\n\r\n"
    )


def digest(user: str, password: str, challenge: str) -> str:
    realm = re.search(r'realm="([^"]+)"', challenge)
    nonce = re.search(r'nonce="([^"]+)"', challenge)
    assert realm and nonce, challenge
    uri = "sip:127.0.0.1"
    ha1 = hashlib.md5(f"{user}:{realm[1]}:{password}".encode()).hexdigest()  # noqa: S324
    ha2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()  # noqa: S324
    resp = hashlib.md5(f"{ha1}:{nonce[1]}:{ha2}".encode()).hexdigest()  # noqa: S324
    return (
        f'Authorization: Digest username="{user}", realm="{realm[1]}", nonce="{nonce[1]}", '
        f'uri="{uri}", response="{resp}", algorithm=MD5\r\n'
    )


async def test_a_ticket_cannot_speak_sip_as_a_phone(
    base: str, http: aiohttp.ClientSession, issue: Callable[..., Any]
) -> None:
    """Attack: a guest redeems their own link, then REGISTERs as alice through /ws (from
    127.0.0.1, past the per-address bans). The relay must close instead of forwarding."""
    status, body = await redeem(http, base, (await issue()).token)
    assert status == 200
    url = base.replace("http", "ws", 1) + body["ws_path"]
    call_id = secrets.token_hex(12)
    async with http.ws_connect(url, protocols=("sip",), origin=base) as ws:
        await ws.send_str(register(ALICE[0], call_id, 1))
        answer = await ws.receive(timeout=5)
        assert answer.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), answer
        assert ws.close_code == 1008  # policy violation
    # And a digest as alice in a request From the link's own user is refused just the same.
    async with http.ws_connect(url, protocols=("sip",), origin=base) as ws:
        fake = (
            'Digest username="alice", realm="conference-bot", nonce="x", uri="sip:x", response="0"'
        )
        await ws.send_str(register(body["sip_user"], call_id, 2, f"Authorization: {fake}\r\n"))
        answer = await ws.receive(timeout=5)
        assert answer.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), answer
    # The link's own user still gets through to Asterisk (a challenge or an answer).
    async with http.ws_connect(url, protocols=("sip",), origin=base) as ws:
        await ws.send_str(register(body["sip_user"], call_id, 3))
        answer = await ws.receive(timeout=5)
        assert answer.type == aiohttp.WSMsgType.TEXT and answer.data.startswith("SIP/2.0 ")
        assert f"Call-ID: {call_id}" in answer.data


async def test_two_redeems_at_once_one_wins(
    base: str, http: aiohttp.ClientSession, issue: Callable[..., Any]
) -> None:
    token = (await issue()).token
    results = await asyncio.gather(*(redeem(http, base, token) for _ in range(8)))
    assert sorted(status for status, _ in results) == [200] + [410] * 7


async def test_get_never_redeems_and_guessing_gets_410(
    base: str, http: aiohttp.ClientSession, issue: Callable[..., Any]
) -> None:
    token = (await issue()).token
    async with http.get(f"{base}/api/link/{token}") as res:
        assert res.status == 405  # a link preview (Slack unfurl) cannot burn or read it
    async with http.get(f"{base}/join/{token}") as res:
        assert res.status == 200
        assert res.headers["Cache-Control"] == "no-store"
    for guess in (token[:-1] + ("A" if token[-1] != "A" else "B"), "", "x" * 43):
        if guess:
            assert (await redeem(http, base, guess))[0] == 410
    status, body = await redeem(http, base, token)  # still unused after all that
    assert status == 200 and body["password"]


async def test_tokens_and_passwords_are_not_logged(
    base: str, http: aiohttp.ClientSession, issue: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    issued = await issue()
    status, body = await redeem(http, base, issued.token)
    assert status == 200
    await redeem(http, base, issued.token)
    url = base.replace("http", "ws", 1) + body["ws_path"]
    async with http.ws_connect(url, protocols=("sip",), origin=base) as ws:
        await ws.send_str(register(body["sip_user"], secrets.token_hex(12), 1))
        await ws.receive(timeout=5)
    text = caplog.text
    ticket = body["ws_path"].rsplit("/", 1)[1]
    for secret in (issued.token, body["password"], ticket):
        assert secret not in text
    assert "aiohttp.access" not in {r.name for r in caplog.records}


async def test_frames_are_size_limited_and_tickets_cannot_flood(
    base: str, http: aiohttp.ClientSession, issue: Callable[..., Any]
) -> None:
    status, body = await redeem(http, base, (await issue()).token)
    assert status == 200
    url = base.replace("http", "ws", 1) + body["ws_path"]
    async with http.ws_connect(url, protocols=("sip",), origin=base) as ws:
        await ws.send_str("x" * (web_server.MAX_FRAME + 1))
        answer = await ws.receive(timeout=5)
        assert answer.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 1009  # message too big
    held = [
        await http.ws_connect(url, protocols=("sip",), origin=base)
        for _ in range(web_server.SOCKETS_PER_TICKET)
    ]
    try:
        with pytest.raises(aiohttp.WSServerHandshakeError) as flood:
            await http.ws_connect(url, protocols=("sip",), origin=base)
        assert flood.value.status == 429
    finally:
        for ws in held:
            await ws.close()
    # Closed ones free their places (a page that reconnects still can).
    async with http.ws_connect(url, protocols=("sip",), origin=base) as ws:
        assert ws.protocol == "sip"


async def test_one_ticket_cannot_get_the_proxy_banned(
    base: str, http: aiohttp.ClientSession, issue: Callable[..., Any]
) -> None:
    """Attack: bad digests as the page's own link, again and again: each is a failed login
    from 127.0.0.1 (the proxy) that the bans count. The ticket stops after a few."""
    status, body = await redeem(http, base, (await issue()).token)
    assert status == 200
    url = base.replace("http", "ws", 1) + body["ws_path"]
    user, call_id = body["sip_user"], secrets.token_hex(12)
    bad = f'Authorization: Digest username="{user}", realm="conference-bot", nonce="n", '
    bad += 'uri="sip:127.0.0.1", response="00000000000000000000000000000000"\r\n'
    async with http.ws_connect(url, protocols=("sip",), origin=base) as ws:
        for cseq in range(1, web_server.LOGINS_PER_TICKET + 1):
            await ws.send_str(register(user, call_id, cseq, bad))
            answer = await ws.receive(timeout=5)
            assert answer.type == aiohttp.WSMsgType.TEXT and answer.data.startswith("SIP/2.0 4")
        await ws.send_str(register(user, call_id, 99, bad))
        answer = await ws.receive(timeout=5)
        assert answer.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), answer
        assert ws.close_code == 1008
    with pytest.raises(aiohttp.WSServerHandshakeError) as spent:
        await http.ws_connect(url, protocols=("sip",), origin=base)
    assert spent.value.status == 429


def test_the_page_never_writes_html() -> None:
    """Room, display and participant names (Slack, ConfBridge events) go in as text."""
    js = (Path(web_server.__file__).parent / "static" / "join.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", "setTimeout(\"", "srcdoc"):  # fmt: skip
        assert sink not in js, sink
    html = (Path(web_server.__file__).parent / "static" / "index.html").read_text()
    assert "<script>" not in html
    assert not re.search(r"<[^>]+\son[a-z]+=", html)  # no inline handlers


LINK = "web-0123456789abcdef"


def invite(frm: str, extra: str = "") -> str:
    return (
        f"INVITE sip:join@h SIP/2.0\r\nVia: SIP/2.0/WS x.invalid\r\nFrom: {frm};tag=1\r\n"
        f"{extra}Call-ID: 1\r\nCSeq: 1 INVITE\r\n\r\nv=0\r\n"
    )


@pytest.mark.parametrize(
    ("message", "allowed"),
    [
        (invite(f'"Ana Example" <sip:{LINK}@h>'), True),
        (
            invite(f"<sip:{LINK}@h>", f'Authorization: Digest username="{LINK}", realm="r"\r\n'),
            True,
        ),
        ("SIP/2.0 200 OK\r\nFrom: <sip:join@h>;tag=2\r\n\r\n", True),  # answers Asterisk
        (invite("<sip:alice@h>"), False),
        (invite(f'"sip:{LINK}@" <sip:alice@h>'), False),  # the name hides the real user
        (
            invite(
                f"<sip:{LINK}@h>",
                f'Authorization: Digest realm="username={LINK}", username="alice"\r\n',
            ),
            False,
        ),  # fmt: skip
        (
            invite(f"<sip:{LINK}@h>", 'Authorization: Digest realm="r",\r\n username="alice"\r\n'),
            False,
        ),  # fmt: skip  (a folded header line)
        (invite(f"<sip:{LINK}@h>", 'Proxy-Authorization: Digest username="alice"\r\n'), False),
        (invite("<sip:%61lice@h>"), False),  # percent-encoded user
        (invite(f"<sip:{LINK}@h>", "f: <sip:alice@h>\r\n"), False),  # two From headers
        (invite("<tel:alice>"), False),
        ("OPTIONS sip:h SIP/2.0\r\nVia: x\r\n\r\n", False),  # no From at all
    ],
)
def test_the_relay_passes_only_the_links_own_identity(message: str, allowed: bool) -> None:
    assert web_server.speaks_as(message, LINK) is allowed


async def test_the_start_up_sweep_removes_leftovers_only(
    stack: Stack, room: Room, issue: Callable[..., Any]
) -> None:
    """AstDB outlives Asterisk: an account no link of ours accounts for (a crash between
    create and insert, an old run) is removed at start; a live link's stays."""
    links = WebLinks(stack.ami)
    stray = "web-" + secrets.token_hex(8)
    await links.create(stray, room, name="Old", user="UOLD", password="p" * 32, trusted=True)
    live = (await issue()).link.link_id
    assert {stray, live} <= await links.stored()
    done = await stack.service.sweep_web_links(links, startup=True)
    assert stray in done and live not in done
    left = await links.stored()
    assert stray not in left and live in left


async def test_a_hostile_slack_name_cannot_reshape_the_endpoint(stack: Stack, room: Room) -> None:
    """The Slack name goes into the endpoint's caller ID (JSON in AstDB, then SIP headers
    and the dialplan): quotes, brackets, CR/LF and function syntax are stripped."""
    issued = await stack.service.issue_web_link(
        room.id, user="UEVE", name='Eve"\r\nX: y <sip:alice@h> ${DB(x)};|', role=Role.GUEST,
        in_workspace=True, credentials=WebLinks(stack.ami), actor="slack:UEVE",
    )  # fmt: skip
    assert issued.link.trusted is False
    entries = await stack.ami.list_action(
        {"Action": "DBGetTree", "Family": PJSIP_ENDPOINT_FAMILY, "Key": issued.link.link_id},
        strict=True,
    )
    vals = [
        str(e.get("Val")) for e in entries if str(e.get("Key", "")).endswith(issued.link.link_id)
    ]
    assert len(vals) == 1, entries
    endpoint = json.loads(vals[0])
    assert endpoint["context"] == "from-webrtc"
    name, number = re.fullmatch(r'"([^"]*)" <([^>]*)>', endpoint["callerid"]).groups()  # type: ignore[union-attr]
    assert number == "UEVE"
    assert not set(name) & set('"<>\r\n$;|{}()')
    with pytest.raises(ValueError):  # a user id that is not one: nothing is written
        await WebLinks(stack.ami).create(
            "web-" + secrets.token_hex(8), room, name="x", user="U1>;x", password="p" * 32,
            trusted=False,
        )  # fmt: skip
    with pytest.raises(errors.NotAllowed):  # someone of another workspace: no link
        await stack.service.issue_web_link(
            room.id, user="UOTHER", name="Other", role=Role.MEMBER, in_workspace=False,
            credentials=WebLinks(stack.ami), actor="slack:UOTHER",
        )  # fmt: skip


@pytest.mark.parametrize("nets", [["127.0.0.1"], ["127.0.0.0/8"], ["192.0.2.7", "127.0.0.1/32"]])
def test_the_trunk_cannot_own_the_relays_address(tmp_path: Path, nets: list[str]) -> None:
    """Asterisk identifies the trunk by address before anyone by name: a trunk on 127.0.0.1
    would make every browser's relayed SIP the trunk's (no login, never banned)."""
    with pytest.raises(ValueError, match="trunk_ips must not include 127.0.0.1"):
        PbxConfig(run_dir=tmp_path, trunk_ips=nets)
    assert PbxConfig(run_dir=tmp_path, trunk_ips=["127.0.0.2"]).trunk_ips == ["127.0.0.2"]
