"""The bot's web server (issue 12) on a real port, with a real Asterisk behind it: the page
and its files under a strict CSP, a link redeemed once (then 410), an expired link 410,
and the /ws proxy relaying SIP over WebSocket to Asterisk's loopback HTTP port, for the page of
a redeemed link only (its ticket)."""

from __future__ import annotations

import secrets
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.errors import SettingsError
from bot.models import Role, Room
from bot.service.weblinks import IssuedLink, utcnow
from telephony.weblinks import WebLinks
from tests.pbx_fixtures import Pbx, Stack
from tests.softphone import make_certificates
from web.server import WebServer, make_app
from web.settings import WebSettings

BUNDLE = "var JsSIP = {};\n"  # stands for the built bundle: the route is tested


@pytest.fixture
async def stack(shared_pbx: Pbx, make_stack: Callable[[Pbx], Awaitable[Stack]]) -> Stack:
    return await make_stack(shared_pbx)


@pytest.fixture
async def room(stack: Stack) -> Room:
    return await stack.service.create_room(name="Board <b>", conference_id="4242", actor="t")


@pytest.fixture
def jssip(tmp_path: Path) -> Path:
    bundle = tmp_path / "jssip.min.js"
    bundle.write_text(BUNDLE)
    return bundle


class Clock:
    def __init__(self) -> None:
        self.ahead = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.ahead


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def base(stack: Stack, shared_pbx: Pbx, jssip: Path, clock: Clock) -> AsyncIterator[str]:
    settings = WebSettings("http://127.0.0.1", "127.0.0.1", 0, None, None)
    app = make_app(stack.service, pbx_ws_url=shared_pbx.cfg.ws_url, jssip=jssip, clock=clock)
    server = await WebServer(app, settings).start()
    yield f"http://127.0.0.1:{server.port}"
    await server.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def issue(stack: Stack, room: Room) -> Callable[..., Any]:
    async def make(user: str = "UALICE", role: Role = Role.MEMBER) -> IssuedLink:
        return await stack.service.issue_web_link(
            room.id, user=user, name="Ana Example", role=role, in_workspace=True,
            credentials=WebLinks(stack.ami), actor=f"slack:{user}",
        )  # fmt: skip

    return make


def assert_strict(headers: Any) -> None:
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"


async def test_page_and_files_are_served_under_a_strict_csp(
    base: str, http: aiohttp.ClientSession, jssip: Path
) -> None:
    async with http.get(f"{base}/join/{secrets.token_urlsafe(32)}") as page:
        assert page.status == 200
        html = await page.text()
        assert_strict(page.headers)
        assert page.headers["Cache-Control"] == "no-store"
    # No inline script: every script is a file of this origin; the ids the tests drive.
    assert "<script>" not in html and 'src="/static/join.js"' in html
    for element in ('id="join"', 'id="mute"', 'id="leave"', 'id="people"', 'id="pin"'):
        assert element in html
    for name in ("join.js", "style.css", "jssip.min.js"):
        async with http.get(f"{base}/static/{name}") as res:
            assert res.status == 200, name
            assert_strict(res.headers)
            if name == "jssip.min.js":
                assert await res.text() == BUNDLE
    async with http.get(f"{base}/static/../server.py") as res:
        assert res.status == 404
    async with http.get(f"{base}/static/index.html.bak") as res:
        assert res.status == 404
        assert_strict(res.headers)


async def test_a_link_is_redeemed_once_then_410(
    base: str, http: aiohttp.ClientSession, issue: Callable[..., Any]
) -> None:
    issued = await issue()
    url = f"{base}/api/link/{issued.token}"
    async with http.post(url, headers={"Origin": "https://evil.example"}) as other_site:
        assert other_site.status == 403  # and the link is still unused:
    async with http.post(url, headers={"Origin": base}) as first:
        assert first.status == 200
        assert first.headers["Cache-Control"] == "no-store"
        body = await first.json()
    assert body["sip_user"] == issued.link.link_id
    assert body["room_name"] == "Board <b>" and body["display_name"] == "Ana Example"
    assert len(body["password"]) >= 32
    assert body["ws_path"].startswith("/ws/") and len(body["ws_path"]) > 30  # the ticket
    assert body["ask_pin"] is False  # the room has no PIN
    async with http.post(url) as second:
        assert second.status == 410
        assert "already used" in (await second.json())["error"]
    async with http.post(f"{base}/api/link/{secrets.token_urlsafe(32)}") as unknown:
        assert unknown.status == 410
        assert "not valid" in (await unknown.json())["error"]
    async with http.get(url) as wrong_method:  # a GET (a link preview) never redeems
        assert wrong_method.status == 405


async def test_an_expired_link_is_410(
    base: str, http: aiohttp.ClientSession, issue: Callable[..., Any], clock: Clock
) -> None:
    issued = await issue()
    clock.ahead = timedelta(minutes=10, seconds=1)
    for _ in range(2):
        async with http.post(f"{base}/api/link/{issued.token}") as res:
            assert res.status == 410
            assert "expired" in (await res.json())["error"]


def options(call_id: str, port: int, user: str = "probe") -> str:
    """A SIP OPTIONS as a WebSocket client (RFC 7118) sends it, From ``user`` (the relay
    passes only requests From the link's own SIP user)."""
    return (
        "OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK{secrets.token_hex(6)}\r\n"
        "Max-Forwards: 70\r\n"
        f"To: <sip:127.0.0.1>\r\nFrom: <sip:{user}@df7jal23ls0d.invalid>;tag={call_id[:8]}\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\n"
        f"Contact: <sip:probe@df7jal23ls0d.invalid;transport=ws>\r\nContent-Length: 0\r\n\r\n"
    )


async def ws_link(
    http: aiohttp.ClientSession, base: str, issue: Callable[..., Any], **kwargs: Any
) -> tuple[str, str]:
    """The WebSocket URL a page gets by redeeming a new link (its ticket in the path), and
    the link's SIP user."""
    issued = await issue()
    async with http.post(f"{base}/api/link/{issued.token}", **kwargs) as res:
        assert res.status == 200
        body = await res.json()
    return base.replace("http", "ws", 1) + str(body["ws_path"]), str(body["sip_user"])


async def ws_url(
    http: aiohttp.ClientSession, base: str, issue: Callable[..., Any], **kwargs: Any
) -> str:
    return (await ws_link(http, base, issue, **kwargs))[0]


async def test_the_websocket_is_relayed_to_asterisk(
    base: str, http: aiohttp.ClientSession, issue: Callable[..., Any]
) -> None:
    call_id = secrets.token_hex(12)
    url, user = await ws_link(http, base, issue)
    async with http.ws_connect(url, protocols=("sip",), origin=base) as ws:
        assert ws.protocol == "sip"
        await ws.send_str(options(call_id, 0, user))
        answer = await ws.receive(timeout=5)
    assert answer.type == aiohttp.WSMsgType.TEXT
    assert answer.data.startswith("SIP/2.0 ") and f"Call-ID: {call_id}" in answer.data


async def test_the_websocket_refuses_other_sites_and_other_protocols(
    base: str, http: aiohttp.ClientSession, issue: Callable[..., Any]
) -> None:
    url = await ws_url(http, base, issue)
    with pytest.raises(aiohttp.WSServerHandshakeError) as other_site:
        await http.ws_connect(url, protocols=("sip",), origin="https://evil.example")
    assert other_site.value.status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError) as no_sip:
        await http.ws_connect(url, origin=base)
    assert no_sip.value.status == 400


async def test_the_websocket_needs_a_redeemed_links_ticket(
    base: str, http: aiohttp.ClientSession
) -> None:
    """Without a ticket nobody reaches Asterisk through the bot (where every SIP request
    would come from 127.0.0.1, past the per-address login bans)."""
    ws = base.replace("http", "ws", 1)
    for path, status in ((f"/ws/{secrets.token_urlsafe(24)}", 403), ("/ws", 404)):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(ws + path, protocols=("sip",), origin=base)
        assert refused.value.status == status, path


async def test_the_websocket_says_when_asterisk_is_not_there(
    stack: Stack, http: aiohttp.ClientSession, jssip: Path, issue: Callable[..., Any]
) -> None:
    settings = WebSettings("http://127.0.0.1", "127.0.0.1", 0, None, None)
    app = make_app(stack.service, pbx_ws_url="ws://127.0.0.1:1/ws", jssip=jssip)
    server = await WebServer(app, settings).start()
    try:
        url = await ws_url(http, f"http://127.0.0.1:{server.port}", issue)
        with pytest.raises(aiohttp.WSServerHandshakeError) as down:
            await http.ws_connect(url, protocols=("sip",))
        assert down.value.status == 502
    finally:
        await server.close()


async def test_https_with_the_pbx_certificate(
    stack: Stack,
    shared_pbx: Pbx,
    http: aiohttp.ClientSession,
    jssip: Path,
    tmp_path: Path,
    issue: Callable[..., Any],
) -> None:
    """With PBX_TLS_CERT/PBX_TLS_KEY the page and the WebSocket are served over TLS."""
    certs = make_certificates(tmp_path / "certs")
    env = {"CONFERENCE_PUBLIC_URL": "https://127.0.0.1", "CONFERENCE_WEB_HOST": "127.0.0.1",
           "CONFERENCE_WEB_PORT": "0", "PBX_TLS_CERT": str(certs.cert),
           "PBX_TLS_KEY": str(certs.key)}  # fmt: skip
    settings = WebSettings.from_environ(env)
    assert settings is not None and settings.tls
    app = make_app(stack.service, pbx_ws_url=shared_pbx.cfg.ws_url, jssip=jssip)
    server = await WebServer(app, settings).start()
    trust = ssl.create_default_context(cafile=str(certs.ca))
    base = f"https://127.0.0.1:{server.port}"
    try:
        async with http.get(f"{base}/join/{secrets.token_urlsafe(32)}", ssl=trust) as page:
            assert page.status == 200
            assert_strict(page.headers)
        call_id = secrets.token_hex(12)
        url, user = await ws_link(http, base, issue, ssl=trust, headers={"Origin": base})
        assert url.startswith("wss://")
        async with http.ws_connect(url, protocols=("sip",), ssl=trust,
                                   origin=base) as ws:  # fmt: skip
            await ws.send_str(options(call_id, server.port, user))
            answer = await ws.receive(timeout=5)
        assert answer.data.startswith("SIP/2.0 ") and call_id in answer.data
    finally:
        await server.close()


def test_settings_say_what_to_set() -> None:
    assert WebSettings.from_environ({}) is None  # no public URL: browser join is off
    local = WebSettings.from_environ({"CONFERENCE_PUBLIC_URL": "http://127.0.0.1:8089/"})
    assert local is not None and (local.host, local.port, local.tls) == ("127.0.0.1", 8089, False)
    assert local.link("abc") == "http://127.0.0.1:8089/join/abc"
    with pytest.raises(SettingsError, match="must start with https://"):
        WebSettings.from_environ({"CONFERENCE_PUBLIC_URL": "http://conf.example.com"})
    with pytest.raises(SettingsError, match="needs HTTPS: set PBX_TLS_CERT and PBX_TLS_KEY"):
        WebSettings.from_environ({"CONFERENCE_PUBLIC_URL": "https://conf.example.com",
                                  "CONFERENCE_WEB_HOST": "0.0.0.0"})  # fmt: skip
    with pytest.raises(SettingsError, match="CONFERENCE_WEB_PORT must be a port"):
        WebSettings.from_environ({"CONFERENCE_PUBLIC_URL": "https://conf.example.com",
                                  "CONFERENCE_WEB_PORT": "http"})  # fmt: skip
