"""One AMI connection (panoramisk) with login, reconnect with backoff (which whoever sees the
PBX come back can cut short) and an explicit state."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from typing import Any

from panoramisk import Manager
from panoramisk.message import Message

from telephony.errors import PbxActionFailed, PbxUnavailable

log = logging.getLogger(__name__)

EventHandler = Callable[[Message], Awaitable[None] | None]
StateHandler = Callable[[], Awaitable[None]]

BACKOFF_START = 0.25
BACKOFF_MAX = 8.0


class AmiState(StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    READY = "ready"  # logged in and Asterisk fully booted


class _Manager(Manager):  # type: ignore[misc]
    """panoramisk's Manager with exponential reconnect backoff instead of a fixed delay, and
    one pending retry at a time, which :meth:`retry_now` can bring forward."""

    pinger: asyncio.TimerHandle | None

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.backoff = BACKOFF_START
        self.retry: asyncio.TimerHandle | None = None
        self.shut_down = False

    def _schedule_retry(self, delay: float) -> None:
        self.stop_retrying()
        self.retry = self.loop.call_later(delay, self._retry)

    def _retry_later(self) -> None:
        delay = self.backoff
        self.backoff = min(delay * 2, BACKOFF_MAX)
        self._schedule_retry(delay)

    def _retry(self) -> None:
        self.retry = None
        self.connect()

    def retry_now(self) -> None:
        if self.retry is not None:  # down and waiting; never while connected or connecting
            self.backoff = BACKOFF_START
            self._schedule_retry(0)

    def stop_retrying(self) -> None:
        if self.retry is not None:
            self.retry.cancel()
            self.retry = None

    def shut(self) -> None:
        """Close for good: no reconnect, now or later."""
        self.shut_down = True
        self.stop_retrying()
        if self.protocol is not None:
            self.protocol.factory = self
        self.close()

    def connection_made(self, f: Any) -> None:
        if f.cancelled():
            return
        if self.shut_down:  # an attempt that was under way when the client closed
            if f.exception() is None:
                transport, protocol = f.result()
                protocol.factory = self  # its connection_lost reaches ours, which ignores it
                transport.close()
            return
        if f.exception() is not None:  # refused: schedule the next try quietly
            self._connected = False
            self._retry_later()
            return
        super().connection_made(f)

    def connection_lost(self, exc: Any) -> None:
        # panoramisk's, without its log lines (one of them used up a step of the backoff).
        self._connected = False
        if self.shut_down:
            return
        self.loop.call_soon(self.on_disconnect, self, exc)
        if self.pinger is not None:
            self.pinger.cancel()
            self.pinger = None
        self._retry_later()


class AmiClient:
    """The bot's single AMI connection.

    ``on_ready`` handlers run after every (re)login once Asterisk is fully booted; that is
    where state is resynced. ``on_down`` handlers run when the connection drops. While it is
    down it retries with backoff (0.25 s doubling to 8 s); ``retry_now`` skips the wait when
    the PBX is known to be back.
    """

    def __init__(
        self, *, host: str, port: int, username: str, secret: str, action_timeout: float = 5.0
    ) -> None:
        self._host = host
        self._port = port
        self._username = username
        self._secret = secret
        self.action_timeout = action_timeout
        self.state = AmiState.DISCONNECTED
        self._manager: _Manager | None = None
        self._ready_handlers: list[StateHandler] = []
        self._down_handlers: list[StateHandler] = []
        self._events: list[tuple[str, EventHandler]] = []
        self._ready = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._login_failed = False

    @property
    def connected(self) -> bool:
        return self.state is AmiState.READY

    def on_ready(self, handler: StateHandler) -> None:
        self._ready_handlers.append(handler)

    def on_down(self, handler: StateHandler) -> None:
        self._down_handlers.append(handler)

    def register_event(self, pattern: str, handler: EventHandler) -> None:
        self._events.append((pattern, handler))
        if self._manager is not None:
            self._manager.register_event(pattern, lambda _m, msg: handler(msg))

    async def start(self) -> None:
        """Begin connecting; returns at once. Use ``wait_ready`` to wait for Asterisk."""
        loop = asyncio.get_running_loop()
        manager = _Manager(
            host=self._host,
            port=self._port,
            username=self._username,
            secret=self._secret,
            loop=loop,
            ping_delay=5,
            ping_interval=5,
            on_login=self._logged_in,
            on_disconnect=self._lost,
            log=logging.getLogger("panoramisk"),
        )
        manager.register_event("FullyBooted", lambda _m, _msg: self._booted())
        for pattern, handler in self._events:
            manager.register_event(pattern, lambda _m, msg, h=handler: h(msg))
        self._manager = manager
        self.state = AmiState.CONNECTING
        manager.connect()

    def retry_now(self) -> None:
        """Retry at once, with the backoff reset, if the connection is down and waiting to
        retry: the PBX has just (re)started.  Nothing happens while connected or connecting,
        so it may be called as often as the PBX is seen alive."""
        if self._manager is not None:
            self._manager.retry_now()

    async def wait_ready(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        if self._manager is not None:
            manager, self._manager = self._manager, None
            manager.shut()
        for task in list(self._tasks):
            task.cancel()
        self.state = AmiState.DISCONNECTED
        self._ready.clear()

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            await coro

        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)

    def _logged_in(self, manager: _Manager) -> None:
        manager.backoff = BACKOFF_START
        log.info("AMI logged in to %s:%s", self._host, self._port)
        # Asterisk sends FullyBooted to each new session once booted; readiness waits for it.

    def _booted(self) -> None:
        if self.state is AmiState.READY:
            return
        self.state = AmiState.READY
        self._ready.set()
        log.info("AMI ready: Asterisk fully booted")
        for handler in self._ready_handlers:
            self._spawn(handler())

    def _lost(self, _manager: _Manager, _exc: object) -> None:
        was_ready = self.state is AmiState.READY
        self.state = AmiState.CONNECTING
        self._ready.clear()
        if was_ready:
            log.warning("AMI connection lost; reconnecting")
            for handler in self._down_handlers:
                self._spawn(handler())

    async def action(self, action: Mapping[str, Any], *, timeout: float | None = None) -> Message:
        """Send one action and return its response; raise if the PBX is down or it failed."""
        response = await self._send(dict(action), timeout, as_list=False)
        assert isinstance(response, Message)
        if response.response in ("Error", "Fail", "Failure"):
            raise PbxActionFailed(f"The PBX refused {action['Action']}: {response.message}")
        return response

    async def list_action(
        self, action: Mapping[str, Any], *, timeout: float | None = None, strict: bool = False
    ) -> list[Message]:
        """Send a list-style action; return the events before ``...Complete``.

        Asterisk answers some of these with a single error message when there is nothing
        to list ("No active conferences."); that comes back as an empty list. ``strict``:
        for actions that list nothing with a Success (DBGetTree), an error is a refusal
        (``PbxActionFailed``: "Permission denied"), not an empty list.
        """
        response = await self._send(dict(action), timeout, as_list=None)
        if isinstance(response, Message):
            if strict and response.response in ("Error", "Fail", "Failure"):
                raise PbxActionFailed(f"The PBX refused {action['Action']}: {response.message}")
            return []
        return [m for m in response if "event" in m and not m.event.endswith("Complete")]

    async def _send(
        self, action: dict[str, Any], timeout: float | None, as_list: bool | None
    ) -> Message | list[Message]:
        manager = self._manager
        if manager is None or not self.connected or manager.protocol is None:
            raise PbxUnavailable()
        future = manager.send_action(action, as_list=as_list)
        try:
            result: Message | list[Message] = await asyncio.wait_for(
                asyncio.shield(future), timeout or self.action_timeout
            )
        except TimeoutError:
            future.cancel()
            raise PbxUnavailable(
                "The phone system (PBX) did not answer in time; try again in a minute."
            ) from None
        return result


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("AMI handler failed", exc_info=task.exception())
