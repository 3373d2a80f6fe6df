"""A minimal raw asyncio AMI (Asterisk Manager Interface) client.

Used by :mod:`deploy.pbx` to wait for ``FullyBooted`` and by the PBX tests to
send actions (``DBPut``, ``ConfbridgeListRooms``...) and watch events.  The bot
itself uses panoramisk; this exists so ``deploy`` has no third-party needs.

Secrets: the login ``Secret`` is never logged or put in exceptions.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


class AmiError(RuntimeError):
    """AMI connection, login or protocol failure."""


@dataclass(frozen=True)
class AmiCredentials:
    username: str
    password: str = field(repr=False)


class AmiMessage:
    """One AMI message: ordered headers; a key may repeat (``Output``, ``ChanVariable``)."""

    __slots__ = ("headers",)

    def __init__(self, headers: list[tuple[str, str]]) -> None:
        self.headers = headers

    def get(self, key: str, default: str | None = None) -> str | None:
        k = key.lower()
        for hk, hv in self.headers:
            if hk.lower() == k:
                return hv
        return default

    def getall(self, key: str) -> list[str]:
        k = key.lower()
        return [hv for hk, hv in self.headers if hk.lower() == k]

    def __getitem__(self, key: str) -> str:
        v = self.get(key)
        if v is None:
            raise KeyError(key)
        return v

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.headers)

    def as_dict(self) -> dict[str, str]:
        """Headers as a dict; repeated keys are joined with newlines."""
        out: dict[str, str] = {}
        for k, v in self.headers:
            out[k] = f"{out[k]}\n{v}" if k in out else v
        return out

    @property
    def event(self) -> str | None:
        return self.get("Event")

    def __repr__(self) -> str:
        return f"AmiMessage({self.headers!r})"


class AmiClient:
    """One AMI session. ``async with await AmiClient.connect(...)`` or call :meth:`close`."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, banner: str
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.banner = banner
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Queue[AmiMessage]] = {}
        self.events: asyncio.Queue[AmiMessage] = asyncio.Queue()
        self._closed = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._read_loop())

    @classmethod
    async def connect(cls, host: str, port: int, timeout: float = 5.0) -> AmiClient:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        try:
            banner = await asyncio.wait_for(reader.readline(), timeout)
        except BaseException:
            writer.close()
            raise
        text = banner.decode("utf-8", "replace").strip()
        if not text.startswith("Asterisk Call Manager"):
            writer.close()
            raise AmiError(f"unexpected AMI banner from {host}:{port}: {text[:80]!r}")
        return cls(reader, writer, text)

    async def __aenter__(self) -> AmiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def _read_loop(self) -> None:
        headers: list[tuple[str, str]] = []
        try:
            while True:
                raw = await self._reader.readline()
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line:
                    key, sep, value = line.partition(":")
                    if sep:
                        headers.append((key.strip(), value.strip()))
                    else:
                        headers.append(("", line))
                    continue
                if not headers:
                    continue
                msg = AmiMessage(headers)
                headers = []
                aid = msg.get("ActionID")
                queue = self._pending.get(aid) if aid is not None else None
                if queue is not None:
                    queue.put_nowait(msg)
                else:
                    self.events.put_nowait(msg)
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._closed.set()
            for q in self._pending.values():
                q.put_nowait(
                    AmiMessage([("Response", "Error"), ("Message", "AMI connection closed")])
                )

    async def _write(self, action: str, aid: str, fields: dict[str, str] | None) -> None:
        if self.closed:
            raise AmiError("AMI connection closed")
        lines = [f"Action: {action}", f"ActionID: {aid}"]
        for k, v in (fields or {}).items():
            if "\n" in v or "\r" in v:
                raise AmiError(f"AMI field {k} contains a newline")
            lines.append(f"{k}: {v}")
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self._writer.drain()

    async def action(
        self, action: str, fields: dict[str, str] | None = None, timeout: float = 10.0
    ) -> list[AmiMessage]:
        """Send an action and return its reply: one message, or for list actions
        the response, every list event and the ``...Complete`` event."""
        aid_queue: asyncio.Queue[AmiMessage] = asyncio.Queue()
        aid = f"deploy-{next(self._ids)}"
        self._pending[aid] = aid_queue
        try:
            await self._write(action, aid, fields)
            out: list[AmiMessage] = []
            async with asyncio.timeout(timeout):
                first = await aid_queue.get()
                out.append(first)
                if (first.get("EventList") or "").lower() != "start":
                    return out
                while True:
                    msg = await aid_queue.get()
                    out.append(msg)
                    if (msg.get("EventList") or "").lower() == "complete" or msg.get(
                        "Response"
                    ) == "Error":
                        return out
        except TimeoutError as exc:
            raise AmiError(f"AMI action {action} timed out after {timeout} s") from exc
        finally:
            self._pending.pop(aid, None)

    async def login(self, creds: AmiCredentials, events: str = "on", timeout: float = 10.0) -> None:
        reply = await self.action(
            "Login",
            {"Username": creds.username, "Secret": creds.password, "Events": events},
            timeout=timeout,
        )
        if reply[0].get("Response") != "Success":
            raise AmiError(f"AMI login as {creds.username!r} failed: {reply[0].get('Message')}")

    async def wait_event(
        self, predicate: Callable[[AmiMessage], bool], timeout: float = 10.0
    ) -> AmiMessage:
        """Next event satisfying ``predicate`` (events before it are dropped)."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    if self.closed and self.events.empty():
                        raise AmiError("AMI connection closed while waiting for an event")
                    get = asyncio.ensure_future(self.events.get())
                    closed = asyncio.ensure_future(self._closed.wait())
                    try:
                        done, _ = await asyncio.wait(
                            {get, closed}, return_when=asyncio.FIRST_COMPLETED
                        )
                    finally:
                        closed.cancel()
                        if not get.done():
                            get.cancel()
                    if get in done:
                        msg = get.result()
                        if predicate(msg):
                            return msg
        except TimeoutError as exc:
            raise AmiError(f"no matching AMI event within {timeout} s") from exc

    async def close(self) -> None:
        if not self.closed:
            try:
                await asyncio.wait_for(self.action("Logoff", timeout=2.0), 2.5)
            except (AmiError, TimeoutError, ConnectionError, OSError):
                pass
        self._writer.close()
        try:
            await asyncio.wait_for(self._writer.wait_closed(), 2.0)
        except (TimeoutError, ConnectionError, OSError):
            pass
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
