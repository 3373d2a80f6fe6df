"""The bot's web server (aiohttp): the join page, its static files, the one-time link's
redemption and the WebSocket proxy to Asterisk.

- ``GET /join/<token>``: the page (the token stays in the URL; the page posts it back).
- ``GET /static/<name>``: ``join.js``, ``style.css`` (the project's own, in ``static/``)
  and ``jssip.min.js`` (bundled into the cache by ``deploy.jssip``, never committed).
- ``POST /api/link/<token>``: the link's SIP settings, once (``redeem_web_link``); 410 with a
  sentence a person can act on when it was used, has expired or is unknown.
- ``GET /ws/<ticket>`` (subprotocol ``sip``): relayed frame by frame to Asterisk's HTTP
  server on loopback (``PBX_HTTP_PORT``), so the bot's port is the only one browsers reach.
  The ticket comes with a redeemed link (``ws_path``) and is good for ``TICKET_LIFETIME``:
  without it anyone reaching the public port could speak SIP to Asterisk through the bot,
  from 127.0.0.1, and guess phone passwords past the per-address login bans.

Every answer carries a strict Content-Security-Policy (no inline script, nothing from
other origins) and ``Referrer-Policy: no-referrer`` (the URL holds the token).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import WSMsgType, web

from bot.errors import SettingsError
from bot.service import ConferenceService
from bot.service.weblinks import Clock, LinkRefused, utcnow
from web.settings import WebSettings

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
OWN_FILES = {"join.js", "style.css"}
JSSIP_NAME = "jssip.min.js"
SIP_PROTOCOL = "sip"
UPSTREAM_TIMEOUT = 5.0
TICKET_LIFETIME = 15 * 60.0  # seconds a redeemed link's page may open WebSockets (and reopen)
# Seconds between pings on both legs of a relay: a browser gone without a close (a laptop
# lid shut) frees its Asterisk session (http.conf's sessionlimit) instead of holding it.
HEARTBEAT = 30.0
MAX_FRAME = 64 * 1024  # bytes in one WebSocket message, either way: SIP messages are small
SOCKETS_PER_TICKET = 3  # relays one ticket may hold open at once (JsSIP uses one; reconnects)
# Requests with a digest one ticket may relay (a join uses 1). Each failed one is a failed
# login from 127.0.0.1 in Asterisk's security events, which the bans count: unbounded, one
# page could get the proxy's address banned, and with it every browser join.
LOGINS_PER_TICKET = 4
_HOST = re.compile(r"^[A-Za-z0-9.\-:\[\]]+$")
# The header lines that say who a relayed request is: From (compact f) and digest usernames.
_FROM_LINE = re.compile(r"^(?:from|f)[ \t]*:(.*)$", re.I | re.M)
_AUTH_LINE = re.compile(r"^(?:proxy-)?authorization[ \t]*:(.*)$", re.I | re.M)
_URI_USER = re.compile(r"sips?:([^@\s;>\"]*)@", re.I)
_DIGEST_USER = re.compile(r"username[ \t]*=[ \t]*(\"[^\"]*\"|[^,\s]*)", re.I)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SERVICE: web.AppKey[ConferenceService] = web.AppKey("service", ConferenceService)
SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("session", aiohttp.ClientSession)
# WebSocket tickets of redeemed links: ticket -> (link id, when it stops being good, monotonic).
TICKETS: web.AppKey[dict[str, tuple[str, float]]] = web.AppKey("tickets", dict)


@dataclass
class Gate:
    """One ticket's use of the relay: its link, relays open, digest logins relayed."""

    link_id: str
    open: int = 0
    logins: int = 0


# Per ticket (SOCKETS_PER_TICKET, LOGINS_PER_TICKET): one ticket cannot flood Asterisk.
GATES: web.AppKey[dict[str, Gate]] = web.AppKey("gates", dict)


def speaks_as(message: str, link_id: str) -> bool:
    """Whether a SIP message from the browser claims no identity but ``link_id``'s: a
    request's one From user and every digest username must be the link's. Asterisk sees
    every relayed message from 127.0.0.1, so without this a page's ticket could log in as
    a phone (identify_by = username) and guess its password past the per-address bans.
    Responses (to Asterisk's in-dialog requests) carry Asterisk's From and pass."""
    if message.startswith("SIP/2.0 "):
        return True
    # Headers unfolded (a line starting with a space continues the one before).
    head = re.sub(r"\r?\n[ \t]+", " ", re.split(r"\r?\n\r?\n", message, maxsplit=1)[0])
    froms = _FROM_LINE.findall(head)
    if len(froms) != 1 or "%" in froms[0] or "tel:" in froms[0].lower():
        return False  # no From, two, or one a parser could read another way: refused
    # Every URI user and every digest username (quoted or not, wherever it stands) must be
    # the link's: over-strict on purpose, so no quoting trick hides another name.
    users = _URI_USER.findall(froms[0])
    digests = [
        u.strip('"') for line in _AUTH_LINE.findall(head) for u in _DIGEST_USER.findall(line)
    ]
    return bool(users) and all(u == link_id for u in (*users, *digests))


def issue_ticket(tickets: dict[str, tuple[str, float]], link_id: str, now: float) -> str:
    """A new WebSocket ticket for ``link_id``; tickets past their time are dropped."""
    for old in [t for t, (_, until) in tickets.items() if until <= now]:
        del tickets[old]
    ticket = secrets.token_urlsafe(24)
    tickets[ticket] = (link_id, now + TICKET_LIFETIME)
    return ticket


def content_security_policy(host: str | None) -> str:
    """Scripts, styles and connections from this origin only; nothing inline, no frames,
    no forms. (``connect-src 'self'`` covers the same-origin WebSocket in CSP 3; the
    explicit ws/wss origin is for browsers that predate it.)"""
    connect = "'self'"
    if host and _HOST.match(host):
        connect += f" wss://{host} ws://{host}"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src {connect}; media-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
    if not response.prepared:  # a WebSocket has sent its headers already
        headers = response.headers
        headers["Content-Security-Policy"] = content_security_policy(request.host)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        headers["X-Frame-Options"] = "DENY"
        headers["Permissions-Policy"] = "microphone=(self), camera=(), geolocation=()"
        headers.setdefault("Cache-Control", "no-store")
    if isinstance(response, web.HTTPException):
        raise response
    return response


def make_app(
    service: ConferenceService,
    *,
    pbx_ws_url: str,
    jssip: Path | None,
    clock: Clock = utcnow,
) -> web.Application:
    """The app. ``pbx_ws_url``: Asterisk's WebSocket (``ws://127.0.0.1:<PBX_HTTP_PORT>/ws``);
    ``jssip``: the bundled JsSIP file (None or missing: the page says browser join is not
    built); ``clock``: what "now" is for expiry (tests move it forward)."""

    async def page(_req: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html")

    async def static(req: web.Request) -> web.StreamResponse:
        name = req.match_info["name"]
        if name in OWN_FILES:
            return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})
        if name == JSSIP_NAME and jssip is not None:  # a missing file answers 404
            return web.FileResponse(jssip, headers={"Cache-Control": "no-cache"})
        raise web.HTTPNotFound(text="Not found.")

    async def redeem(req: web.Request) -> web.Response:
        origin = req.headers.get("Origin")
        if origin is not None and not _same_origin(origin, req.host):
            raise web.HTTPForbidden(text="Links are opened from their own page only.")
        try:
            join = await service.redeem_web_link(req.match_info["token"], clock=clock)
        except LinkRefused as refused:
            return web.json_response({"error": refused.message}, status=410)
        ticket = issue_ticket(req.app[TICKETS], join.link_id, time.monotonic())
        return web.json_response(
            {
                "room_name": join.room_name,
                "conference_id": join.conference_id,
                "display_name": join.display_name,
                "sip_user": join.link_id,
                "password": join.password,
                "target": "join",
                "ws_path": f"/ws/{ticket}",
                "ask_pin": join.has_pin and not join.trusted,
                "trusted": join.trusted,
            }
        )

    async def proxy(req: web.Request) -> web.StreamResponse:
        ticket = req.match_info["ticket"]
        held = req.app[TICKETS].get(ticket)
        if held is None or held[1] <= time.monotonic():
            raise web.HTTPForbidden(text="Open the page from a link first: this one is not.")
        gates = req.app[GATES]
        for gone in [t for t in gates if t not in req.app[TICKETS]]:
            del gates[gone]
        gate = gates.setdefault(ticket, Gate(held[0]))
        if gate.open >= SOCKETS_PER_TICKET or gate.logins >= LOGINS_PER_TICKET:
            raise web.HTTPTooManyRequests(text="Too many connections for this link's page.")
        gate.open += 1
        try:
            return await relay(req, req.app[SESSION], pbx_ws_url, gate=gate)
        finally:
            gate.open -= 1

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            app[SESSION] = session
            yield

    app = web.Application(middlewares=[security_headers])
    app[SERVICE] = service
    app[TICKETS] = {}
    app[GATES] = {}
    app.cleanup_ctx.append(session_ctx)
    app.router.add_get("/join/{token}", page)
    app.router.add_get("/static/{name}", static)
    app.router.add_post("/api/link/{token}", redeem)
    app.router.add_get("/ws/{ticket}", proxy)
    return app


def _same_origin(origin: str, host: str) -> bool:
    return urlsplit(origin).netloc.lower() == host.lower()


async def relay(
    req: web.Request, session: aiohttp.ClientSession, upstream: str, *, gate: Gate
) -> web.StreamResponse:
    """The browser's WebSocket, relayed to ``upstream`` with subprotocol ``sip`` until
    either side closes. Refused (403) from another origin's page; 502 when Asterisk's
    WebSocket does not answer. Messages over ``MAX_FRAME`` close it (1009); a request
    from the browser speaking as anyone but ``gate``'s link (``speaks_as``), or a digest
    login past ``LOGINS_PER_TICKET``, closes it (1008)."""
    origin = req.headers.get("Origin")
    if origin is not None and not _same_origin(origin, req.host):
        raise web.HTTPForbidden(text="WebSocket from another site refused.")
    browser = web.WebSocketResponse(
        protocols=(SIP_PROTOCOL,), autoping=True, max_msg_size=MAX_FRAME, heartbeat=HEARTBEAT
    )
    if browser.can_prepare(req).protocol != SIP_PROTOCOL:
        raise web.HTTPBadRequest(text="Expected a WebSocket with subprotocol sip.")
    try:
        pbx = await session.ws_connect(
            upstream,
            protocols=(SIP_PROTOCOL,),
            timeout=aiohttp.ClientWSTimeout(ws_close=UPSTREAM_TIMEOUT),
            max_msg_size=MAX_FRAME,
            heartbeat=HEARTBEAT,
        )
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("the PBX's WebSocket at %s did not answer: %s", upstream, exc)
        raise web.HTTPBadGateway(text="The phone system is not reachable right now.") from None
    try:
        await browser.prepare(req)
        to_pbx = asyncio.create_task(_pump(browser, pbx, gate))
        to_browser = asyncio.create_task(_pump(pbx, browser))
        _, pending = await asyncio.wait({to_pbx, to_browser}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
    finally:
        await pbx.close()
        await browser.close()
    return browser


async def _pump(source: Any, sink: Any, gate: Gate | None = None) -> None:
    """Frames from ``source`` to ``sink`` (either side's WebSocket) until one closes; with
    ``gate`` (the browser's side) only SIP speaking as that link, as text, and at most
    ``LOGINS_PER_TICKET`` requests with a digest."""
    async for msg in source:
        if msg.type == WSMsgType.TEXT:
            if gate is not None and not _admit(msg.data, gate):
                await source.close(code=aiohttp.WSCloseCode.POLICY_VIOLATION)
                break
            await sink.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY and gate is None:
            await sink.send_bytes(msg.data)
        elif msg.type == WSMsgType.BINARY:  # JsSIP sends text; bytes would skip the check
            await source.close(code=aiohttp.WSCloseCode.UNSUPPORTED_DATA)
            break
        else:  # close, error (a message over MAX_FRAME: aiohttp closes with 1009)
            break


def _admit(message: str, gate: Gate) -> bool:
    if not speaks_as(message, gate.link_id):
        log.warning("browser link %s: a SIP request as someone else; closed", gate.link_id)
        return False
    if not message.startswith("SIP/2.0 ") and _AUTH_LINE.search(message.split("\r\n\r\n")[0]):
        gate.logins += 1
        if gate.logins > LOGINS_PER_TICKET:
            log.warning("browser link %s: too many SIP logins; closed", gate.link_id)
            return False
    return True


class WebServer:
    """The app on ``settings.host``/``settings.port`` (HTTPS when the certificate is set)."""

    def __init__(self, app: web.Application, settings: WebSettings) -> None:
        self._app = app
        self._settings = settings
        self._runner: web.AppRunner | None = None
        self.port = settings.port

    async def start(self) -> WebServer:
        """Listen; ``SettingsError`` saying what to change when the certificate cannot be
        read or the address is taken."""
        cfg = self._settings
        ctx: ssl.SSLContext | None = None
        if cfg.tls_cert is not None and cfg.tls_key is not None:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            try:
                ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
            except (OSError, ssl.SSLError) as exc:
                raise SettingsError(
                    f"The web server cannot use PBX_TLS_CERT {cfg.tls_cert} / PBX_TLS_KEY "
                    f"{cfg.tls_key}: {exc}. Point them at a readable PEM certificate and key."
                ) from None
        runner = web.AppRunner(self._app, access_log=None)  # the URLs hold tokens
        await runner.setup()
        site = web.TCPSite(runner, cfg.host, cfg.port, ssl_context=ctx)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise SettingsError(
                f"The web server cannot listen on {cfg.host}:{cfg.port} ({exc.strerror}). "
                "Set CONFERENCE_WEB_PORT to a free port (or CONFERENCE_WEB_HOST)."
            ) from None
        self._runner = runner
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
