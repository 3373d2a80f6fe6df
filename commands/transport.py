"""Where Slack's requests enter: nothing is parsed, logged or acted on before it is verified.

HTTP mode: the signature is checked on the raw bytes (``v0=HMAC_SHA256(secret,
"v0:{timestamp}:{body}")``, timestamp within 5 minutes) before the body is decoded. Anything
that does not verify, for whatever reason, gets 401 and reaches no listener, no error handler
and no Web API call; a verified body that is not what Slack sends gets 400. Socket Mode:
frames arrive over the WebSocket that our app-level token opened, so they are Slack's; a frame
that is not a well-formed envelope is dropped with one log line.

Requests that pass are marked in the Bolt context (``VERIFIED``); the error handler refuses
to tell anyone anything about a request without that mark.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import aiohttp
from aiohttp import web
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.adapter.socket_mode.async_internals import send_async_response
from slack_bolt.adapter.socket_mode.internals import build_headers
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from bot.text import printable

log = logging.getLogger(__name__)

VERIFIED = "conference_verified"  # Bolt context key: how this request was verified
MAX_SKEW = 300  # seconds; Slack's advice
MAX_BODY = 256 * 1024  # Slack's payloads are a few KB; a modal state stays far below this

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_ENVELOPE_TYPES = frozenset({"events_api", "slash_commands", "interactive"})
_CONTROL_TYPES = frozenset({"hello", "disconnect"})


class RefusalLog:
    """Log lines for refused requests: a trace of an attack without filling the disk.

    The first refusal after a quiet second is logged at once; under a flood, the rest are
    counted and summed up in one line a second (also once the flood stops).
    """

    def __init__(
        self,
        logger: logging.Logger = log,
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._interval = interval
        self._clock = clock
        self._last = float("-inf")
        self._held: dict[str, int] = {}
        self._flush: asyncio.TimerHandle | None = None

    def refused(self, what: str, reason: str) -> None:
        line = printable(f"{what}: {reason}")[:200]
        now = self._clock()
        if now - self._last >= self._interval and not self._held:
            self._last = now
            self._log.warning("refused %s", line)
            return
        self._held[reason] = self._held.get(reason, 0) + 1
        if self._flush is None:
            delay = max(self._last + self._interval - now, 0.0)
            self._flush = asyncio.get_running_loop().call_later(delay, self.flush)

    def flush(self) -> None:
        self._flush = None
        if not self._held:
            return
        total = sum(self._held.values())
        reasons = ", ".join(f"{n} {printable(r)[:80]}" for r, n in sorted(self._held.items()))
        self._held.clear()
        self._last = self._clock()
        self._log.warning("refused %d more Slack requests in the last second (%s)", total, reasons)


def signature_problem(
    secret: str, raw: bytes, timestamp: str | None, signature: str | None, now: float
) -> str | None:
    """Why this request is not from Slack, or None when it is."""
    if not secret:
        return "no signing secret is configured"
    if timestamp is None or signature is None:
        return "missing signature headers"
    if not _TIMESTAMP.fullmatch(timestamp):
        return "malformed timestamp"
    if abs(now - int(timestamp)) > MAX_SKEW:
        return "stale timestamp"
    if not _SIGNATURE.fullmatch(signature):
        return "malformed signature"
    base = b"v0:" + timestamp.encode() + b":" + raw
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return "wrong signature"
    return None


class Malformed(ValueError):
    """A verified body that is not one of Slack's formats."""


def parse_body(raw: bytes, content_type: str) -> tuple[str, dict[str, Any]]:
    """The body as text and as the dict listeners get, parsed once, here, strictly.

    Events are JSON; slash commands are a form; interactivity is a form with one ``payload``
    field holding JSON. (Bolt's own parser guesses from the text: a slash command whose text
    says "payload" would reach it as an empty request.)
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("body is not UTF-8") from None
    if content_type == "application/json":
        return text, _json_object(text, "body")
    if content_type != "application/x-www-form-urlencoded":
        raise Malformed("unexpected content type")
    try:
        form = parse_qs(text, keep_blank_values=True, strict_parsing=True, errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise Malformed("body is not a form") from None
    if any(len(values) != 1 for values in form.values()):
        raise Malformed("a form field is repeated")
    fields = {key: values[0] for key, values in form.items()}
    if "payload" in fields:
        if len(fields) != 1:
            raise Malformed("payload comes with other fields")
        return text, _json_object(fields["payload"], "payload")
    return text, fields


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise Malformed(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise Malformed(f"{what} is not a JSON object")
    return value


def http_app(app: AsyncApp, secret: str, path: str, refusals: RefusalLog) -> web.Application:
    """The aiohttp application for HTTP mode: one POST endpoint, verified before parsed."""

    async def handle(request: web.Request) -> web.Response:
        if request.headers.get("Content-Encoding", "identity") != "identity":
            # Slack never compresses; decompressing would mean parsing before verifying.
            refusals.refused(f"Slack request from {request.remote}", "unverified: compressed")
            return web.Response(status=401, text="unverified request\n")
        try:
            raw = await request.read()
        except (ConnectionError, asyncio.IncompleteReadError, aiohttp.ClientPayloadError):
            refusals.refused(f"Slack request from {request.remote}", "unverified: body cut off")
            return web.Response(status=401, text="unverified request\n")
        problem = signature_problem(
            secret,
            raw,
            request.headers.get("X-Slack-Request-Timestamp"),
            request.headers.get("X-Slack-Signature"),
            time.time(),
        )
        if problem is not None:
            refusals.refused(f"Slack request from {request.remote}", f"unverified: {problem}")
            return web.Response(status=401, text="unverified request\n")
        try:
            text, body = parse_body(raw, request.content_type)
        except Malformed as exc:
            refusals.refused(f"Slack request from {request.remote}", f"malformed: {exc}")
            return web.Response(status=400, text="malformed request\n")
        bolt_request = _bolt_request(text, body, request)
        response = await app.async_dispatch(bolt_request)
        content_type = response.headers.pop("content-type", ["text/plain"])[0].split(";")[0]
        return web.Response(
            status=response.status,
            body=response.body,
            headers=response.first_headers_without_set_cookie(),
            content_type=content_type,
        )

    async def refuse_oversize(request: web.Request) -> web.Response:
        refusals.refused(f"Slack request from {request.remote}", "body too large")
        return web.Response(status=413, text="request too large\n")

    web_app = web.Application(client_max_size=MAX_BODY)
    web_app.router.add_post(path, _size_guard(handle, refuse_oversize))
    return web_app


def _bolt_request(text: str, body: dict[str, Any], request: web.Request) -> AsyncBoltRequest:
    """A Bolt request carrying the body parsed above; Bolt still has the raw text, and its
    own signature check (which passes again) stays on as a second lock."""
    bolt_request = AsyncBoltRequest(
        body="", query=request.query_string, headers=dict(request.headers)
    )
    bolt_request.raw_body = text
    bolt_request.body = body
    bolt_request.context = build_async_context(AsyncBoltContext({VERIFIED: "signature"}), body)
    return bolt_request


class QuietServerErrors(logging.Filter):
    """aiohttp's own server logs a traceback for each request it cannot even parse (a bad
    chunk, a cut-off body, a huge header): before any signature could be checked. Those
    become refusals, counted like the others, without the traceback."""

    def __init__(self, refusals: RefusalLog) -> None:
        super().__init__()
        self._refusals = refusals

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info is None or record.exc_info[1] is None:
            return True
        error = type(record.exc_info[1]).__name__
        self._refusals.refused("HTTP request", f"unverified: unreadable ({error})")
        return False


def _size_guard(
    handle: Callable[[web.Request], Any], refuse: Callable[[web.Request], Any]
) -> Callable[[web.Request], Any]:
    async def guarded(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY:
            return await refuse(request)  # type: ignore[no-any-return]
        try:
            return await handle(request)  # type: ignore[no-any-return]
        except web.HTTPRequestEntityTooLarge:
            return await refuse(request)  # type: ignore[no-any-return]

    return guarded


class _CheckedSocketModeClient(SocketModeClient):
    """Drops frames that are not well-formed envelopes, with one (rate-limited) log line,
    instead of letting them raise inside the client's loop."""

    refusals: RefusalLog

    async def process_message(self) -> None:
        raw = await self.message_queue.get()
        if raw is None:
            return
        problem = envelope_problem(raw)
        if problem is not None:
            self.refusals.refused("Socket Mode frame", problem)
            return
        message = json.loads(raw)
        asyncio.ensure_future(self.run_message_listeners(message, raw))


def envelope_problem(raw: object) -> str | None:
    """Why a Socket Mode frame is not something to act on, or None."""
    if not isinstance(raw, str):
        return "not a text frame"
    try:
        message = json.loads(raw)
    except ValueError:
        return "not JSON"
    if not isinstance(message, dict):
        return "not a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str):
        return "envelope type is not a string"
    if kind in _CONTROL_TYPES:
        return None
    if kind not in _ENVELOPE_TYPES:
        return f"unknown envelope type {str(kind)[:40]!r}"
    if not isinstance(message.get("envelope_id"), str) or not message["envelope_id"]:
        return "no envelope_id"
    if not isinstance(message.get("payload"), dict):
        return "payload is not an object"
    return None


class VerifiedSocketModeHandler(AsyncSocketModeHandler):
    """Bolt's Socket Mode handler, with envelopes checked and requests marked verified."""

    def __init__(self, app: AsyncApp, app_token: str, refusals: RefusalLog) -> None:
        # Not super().__init__(): it would build (and leak) a second client with its own
        # HTTP session and message loop.
        self.app = app
        self.app_token = app_token
        client = _CheckedSocketModeClient(
            app_token=app_token, logger=app.logger, web_client=app.client
        )
        client.refusals = refusals
        client.socket_mode_request_listeners.append(self.handle)  # type: ignore[arg-type]
        self.client = client

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        start = time.time()
        bolt_request = AsyncBoltRequest(
            mode="socket_mode",
            body=req.payload,
            headers=build_headers(req),
            context={VERIFIED: "socket"},
        )
        response = await self.app.async_dispatch(bolt_request)
        await send_async_response(client, req, response, start)
