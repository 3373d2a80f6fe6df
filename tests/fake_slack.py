"""A local stand-in for Slack: its Web API, response URLs and the Socket Mode WebSocket.

An aiohttp server on 127.0.0.1 (free port) that answers the documented Web API methods the
app uses, records every call, and can be told to fail some (HTTP 429 with ``Retry-After``,
or an ``ok: false`` error). The app reaches it through ``SLACK_API_URL``.

File uploads follow Slack's three steps as documented (``files.upload`` is retired):
``files.getUploadURLExternal`` (``filename``, ``length``) answers an ``upload_url`` on this
server and a ``file_id``; the bytes are POSTed there (raw, or as a multipart ``file`` field);
``files.completeUploadExternal`` (``files`` as JSON ``[{"id", "title"}]``, ``channel_id``,
``initial_comment``, ``thread_ts``) refuses an unknown file id, a file whose bytes never
arrived, or whose byte count differs from the ``length`` announced in step one. What was
shared is in ``files`` (by file id) for tests to inspect.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

BOT_USER = "UBOT"
TEAM = "T0TEST"


@dataclass(frozen=True)
class Call:
    method: str  # a Web API method, or "response_url"
    args: dict[str, Any]
    token: str | None
    at: float = field(default_factory=time.monotonic)


@dataclass
class UploadedFile:
    """A file as the three upload steps left it: announced, received, then shared."""

    file_id: str
    filename: str
    length: int  # as announced to files.getUploadURLExternal
    token: str  # the secret part of its upload_url
    data: bytes | None = None  # the bytes POSTed to the upload_url
    title: str | None = None
    channel: str | None = None
    initial_comment: str | None = None
    thread_ts: str | None = None
    completed: bool = False


@dataclass
class _Fault:
    status: int
    error: str
    retry_after: int | None
    times: int


class FakeSlack:
    def __init__(self, *, admins: Iterable[str] = ()) -> None:
        self.calls: list[Call] = []
        self.admins = set(admins)
        # users.info fields by user ID, over the defaults (a member of TEAM), e.g.
        # {"is_restricted": True} for a guest or {"team_id": "TOTHER"} for another team.
        self.profiles: dict[str, dict[str, Any]] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self._ts = itertools.count(1)
        self._envelopes = itertools.count(1)
        self._views = itertools.count(1)
        self.closed_views: set[str] = set()  # views.update answers not_found for these
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.sockets: list[web.WebSocketResponse] = []
        self._socket_connected = asyncio.Event()
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._changed = asyncio.Event()
        self.files: dict[str, UploadedFile] = {}  # by file id, in the order announced
        self._file_ids = itertools.count(1)
        self._upload_faults = 0

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/respond/{name}", self._respond)
        app.router.add_get("/socket", self._socket)
        app.router.add_post("/upload/v1/{file_id}/{token}", self._upload)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        for address in self._runner.addresses:
            self.port = int(address[1])
        return self

    async def close(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def api_url(self) -> str:
        return self.url + "api/"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.url}respond/{name}"

    # -- scripting ------------------------------------------------------------------------

    def rate_limit(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with HTTP 429 and Retry-After."""
        self._faults.setdefault(method, []).append(_Fault(429, "ratelimited", retry_after, times))

    def fail(self, method: str, error: str, *, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with ``ok: false`` and ``error``."""
        self._faults.setdefault(method, []).append(_Fault(200, error, None, times))

    def fail_uploads(self, times: int = 1) -> None:
        """Answer the next ``times`` POSTs to an upload_url with HTTP 500 (bytes dropped)."""
        self._upload_faults += times

    # -- inspecting -----------------------------------------------------------------------

    def shared_files(self) -> list[UploadedFile]:
        """Files that went through all three steps, in the order they were announced."""
        return [f for f in self.files.values() if f.completed]

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] = lambda _c: True,
        *,
        count: int = 1,
        timeout: float = 5.0,
    ) -> Call:
        """The ``count``-th call of ``method`` matching ``predicate``, waiting for it."""
        deadline = time.monotonic() + timeout
        while True:
            found = [c for c in self.calls_to(method) if predicate(c)]
            if len(found) >= count:
                return found[count - 1]
            left = deadline - time.monotonic()
            if left <= 0:
                seen = [c.method for c in self.calls]
                raise AssertionError(f"no {count} call(s) to {method} within {timeout}s: {seen}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 0.05))
            except TimeoutError:
                pass

    # -- the Web API ----------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            args.update(await request.json())
        elif request.can_read_body:
            args.update(await request.post())
        token = request.headers.get("Authorization", "").removeprefix("Bearer ") or None
        self.calls.append(Call(method, args, token))
        self._changed.set()
        fault = self._take_fault(method)
        if fault is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
            return web.json_response(
                {"ok": False, "error": fault.error}, status=fault.status, headers=headers
            )
        return web.json_response(self._answer(method, args))

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.pop(0)
        return fault

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://test.slack.com/",
                "team": "Test",
                "user": "conference",
                "team_id": TEAM,
                "user_id": BOT_USER,
                "bot_id": "BBOT",
                "is_enterprise_install": False,
            }
        if method in ("views.open", "views.push"):  # each opened view gets its own id
            view_id = f"V{next(self._views):06d}"
            return {"ok": True, "view": {"id": view_id, **_as_dict(args.get("view"))}}
        if method == "views.update":
            view_id = str(args.get("view_id") or "V0VIEW")
            if view_id in self.closed_views:  # closed by the user: Slack no longer has it
                return {"ok": False, "error": "not_found"}
            return {"ok": True, "view": {"id": view_id, **_as_dict(args.get("view"))}}
        if method == "views.publish":
            return {"ok": True, "view": {"id": "V0VIEW", **_as_dict(args.get("view"))}}
        if method == "chat.postMessage":
            n = next(self._ts)
            return {
                "ok": True,
                "channel": args.get("channel"),
                "ts": f"{1700000000 + n}.{n:06d}",
                "message": {"text": args.get("text"), "user": BOT_USER},
            }
        if method == "chat.update":
            return {"ok": True, "channel": args.get("channel"), "ts": args.get("ts")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{1700000000 + next(self._ts)}.000001"}
        if method == "users.info":
            user = str(args.get("user"))
            admin = user in self.admins
            profile = {
                "id": user,
                "team_id": TEAM,
                "name": user.lower(),
                "is_admin": admin,
                "is_owner": False,
                "is_restricted": False,
                "is_ultra_restricted": False,
            }
            return {"ok": True, "user": {**profile, **self.profiles.get(user, {})}}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(args.get("users"))}}
        if method == "files.getUploadURLExternal":
            return self._get_upload_url(args)
        if method == "files.completeUploadExternal":
            return self._complete_upload(args)
        if method == "apps.connections.open":
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}
        return {"ok": False, "error": "unknown_method"}

    # -- files: the three upload steps ---------------------------------------------------

    def _get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = str(args.get("filename") or "")
        length = str(args.get("length") or "")
        if not filename or not length.isdigit() or int(length) < 1:
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._file_ids):08d}"
        token = secrets.token_urlsafe(12)
        self.files[file_id] = UploadedFile(file_id, filename, int(length), token)
        return {
            "ok": True,
            "upload_url": f"{self.url}upload/v1/{file_id}/{token}",
            "file_id": file_id,
        }

    async def _upload(self, request: web.Request) -> web.Response:
        upload = self.files.get(request.match_info["file_id"])
        if upload is None or upload.token != request.match_info["token"] or upload.completed:
            return web.Response(status=404, text="Not found", content_type="text/plain")
        if request.content_type == "multipart/form-data":
            form = await request.post()
            field = form.get("file")
            data = field.file.read() if isinstance(field, web.FileField) else b""
        else:
            data = await request.read()
        self.calls.append(Call("upload", {"file_id": upload.file_id, "bytes": len(data)}, None))
        self._changed.set()
        if self._upload_faults > 0:
            self._upload_faults -= 1
            return web.Response(status=500, text="Internal error", content_type="text/plain")
        upload.data = data
        # What Slack's upload endpoint answers: plain text with the byte count.
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    def _complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            wanted = json.loads(str(args.get("files") or ""))
        except json.JSONDecodeError:
            return {"ok": False, "error": "invalid_arguments"}
        if not isinstance(wanted, list) or not wanted:
            return {"ok": False, "error": "invalid_arguments"}
        found: list[UploadedFile] = []
        for entry in wanted:
            upload = self.files.get(str(entry.get("id"))) if isinstance(entry, dict) else None
            if upload is None or upload.completed or upload.data is None:
                return {"ok": False, "error": "file_not_found"}
            if len(upload.data) != upload.length:
                return {"ok": False, "error": "file_upload_size_mismatch"}
            found.append(upload)
        channel = args.get("channel_id") or None
        for entry, upload in zip(wanted, found, strict=True):
            upload.title = str(entry.get("title") or upload.filename)
            upload.channel = channel
            upload.initial_comment = args.get("initial_comment") or None
            upload.thread_ts = args.get("thread_ts") or None
            upload.completed = True
        return {
            "ok": True,
            "files": [
                {
                    "id": f.file_id,
                    "name": f.filename,
                    "title": f.title,
                    "size": f.length,
                    "channels": [channel] if channel else [],
                }
                for f in found
            ],
        }

    async def _respond(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(Call("response_url", {"name": request.match_info["name"], **body}, None))
        self._changed.set()
        return web.Response(text="ok")

    # -- Socket Mode ----------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json(
            {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0TEST"}}
        )
        self._socket_connected.set()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                future = self._acks.pop(str(data.get("envelope_id")), None)
                if future is not None and not future.done():
                    future.set_result(data)
        finally:
            self.sockets.remove(ws)
        return ws

    async def wait_socket(self, timeout: float = 5.0) -> None:
        await asyncio.wait_for(self._socket_connected.wait(), timeout)

    async def send_envelope(
        self, kind: str, payload: dict[str, Any], *, timeout: float = 5.0
    ) -> dict[str, Any]:
        """Deliver a request over the Socket Mode connection; return the app's acknowledgement."""
        await self.wait_socket(timeout)
        envelope_id = f"env-{next(self._envelopes)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = future
        await self.sockets[-1].send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "accepts_response_payload": kind != "events_api",
                "payload": payload,
                "retry_attempt": 0,
                "retry_reason": "",
            }
        )
        return await asyncio.wait_for(future, timeout)


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        parsed = json.loads(value)
        return parsed if isinstance(parsed, dict) else {}
    return dict(value) if isinstance(value, dict) else {}
