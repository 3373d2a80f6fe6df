"""The registration trunk's state: registered, rejected, unreachable..., with the last
reason and since when.

Asterisk registers to the provider itself (``type=registration`` in pjsip.conf) and keeps
retrying; this module only watches. AMI gives the status: a ``Registry`` event (class
``system``) after every answer or timeout, and ``PJSIPShowRegistrationsOutbound`` for the
state at (re)connect. Neither says *why* a registration failed, so a failure is explained
from Asterisk's log (:mod:`telephony.registration_log`). Raw AMI messages become
:class:`RegistryEvent` and :class:`RegistrationDetail` here, at the edge; the
``AuthDetail`` events that come with the detail (they carry the password) are never kept.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol

from telephony.ami import AmiClient
from telephony.background import Background
from telephony.registration_log import RegistrationFailure

log = logging.getLogger(__name__)

EXPLAIN_WAIT = 1.5  # seconds to wait for Asterisk's log line behind an event


class TrunkStatus(StrEnum):
    REGISTERING = "registering"  # no outcome yet
    REGISTERED = "registered"
    REJECTED = "rejected"  # the provider answered no
    UNREACHABLE = "unreachable"  # the provider did not answer
    STOPPED = "stopped"  # Asterisk is not trying (unregistered, stopped, not loaded)
    UNKNOWN = "unknown"  # the PBX is offline: nobody to ask


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class RegistryEvent:
    """AMI ``Registry``: a registration's status after an answer (or a timeout)."""

    channel_type: str  # PJSIP
    client_uri: str  # AMI "Username": the registration's client_uri (To header)
    server_uri: str  # AMI "Domain": its server_uri
    status: str  # Registered, Rejected, Unregistered...
    cause: str  # empty for PJSIP
    timestamp: float | None  # Asterisk's time (manager.conf timestampevents)

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> RegistryEvent | None:
        if str(msg.get("Event", "")) != "Registry":
            return None
        return cls(
            channel_type=str(msg.get("ChannelType", "")),
            client_uri=str(msg.get("Username", "")),
            server_uri=str(msg.get("Domain", "")),
            status=str(msg.get("Status", "")),
            cause=str(msg.get("Cause", "")),
            timestamp=_float(msg.get("Timestamp")),
        )


@dataclass(frozen=True, slots=True)
class RegistrationDetail:
    """AMI ``OutboundRegistrationDetail``: one registration's settings and status.

    Its ``NextReg`` is not kept: it is pjsip's own refresh timer, which Asterisk leaves
    unused (it schedules refreshes and retries itself), so it reads 0 whatever the state.
    """

    name: str
    server_uri: str
    client_uri: str
    contact_user: str
    endpoint: str
    status: str
    retry_interval: int | None
    expiration: int | None

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> RegistrationDetail | None:
        """None for anything else (the ``AuthDetail`` events beside it, the Complete)."""
        if str(msg.get("Event", "")) != "OutboundRegistrationDetail":
            return None
        return cls(
            name=str(msg.get("ObjectName", "")),
            server_uri=str(msg.get("ServerUri", "")),
            client_uri=str(msg.get("ClientUri", "")),
            contact_user=str(msg.get("ContactUser", "")),
            endpoint=str(msg.get("Endpoint", "")),
            status=str(msg.get("Status", "")),
            retry_interval=_int(msg.get("RetryInterval")),
            expiration=_int(msg.get("Expiration")),
        )


def user_of(uri: str) -> str:
    """``conference-trunk`` of ``sip:conference-trunk@host:port``."""
    _, _, rest = uri.partition(":")
    user, at, _ = rest.partition("@")
    return user if at else ""


@dataclass(frozen=True, slots=True)
class TrunkState:
    """The registration trunk as it is now. Text fields come from the PBX: escape them
    before putting them into markup."""

    status: TrunkStatus
    since: float  # epoch seconds: when this status began (as far as we know)
    server_uri: str = ""
    client_uri: str = ""
    reason: str | None = None  # the last failure, as a person reads it
    code: int | None = None  # the registrar's SIP status behind the last failure
    retry_interval: int | None = None  # seconds between attempts after a failure

    @property
    def registered(self) -> bool:
        return self.status is TrunkStatus.REGISTERED

    @property
    def down(self) -> bool:
        """Known not to be registered (the PBX being offline is not news about the trunk)."""
        return self.status not in (TrunkStatus.REGISTERED, TrunkStatus.UNKNOWN)

    @property
    def user(self) -> str:
        return user_of(self.client_uri)

    def summary(self) -> str:
        """One line: "registered to sip:... as user", "rejected (401 Unauthorized: ...)"."""
        where = self.server_uri or "the provider"
        s = self.status
        if s is TrunkStatus.REGISTERED:
            return f"registered to {where}" + (f" as {self.user}" if self.user else "")
        if s is TrunkStatus.REGISTERING:
            return f"registering to {where} (no answer yet)"
        if s is TrunkStatus.UNKNOWN:
            return "unknown (the PBX is offline)"
        retry = (
            f"; retrying every {self.retry_interval} s"
            if self.retry_interval and s in (TrunkStatus.REJECTED, TrunkStatus.UNREACHABLE)
            else ""
        )
        return f"{s.value} ({self.reason or 'reason unknown'}){retry}"

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.status.value,
            "since": self.since,
            "registrar": self.server_uri or None,
            "user": self.user or None,
            "reason": self.reason,
            "sip_status": self.code,
            "retry_interval": self.retry_interval,
        }


class FailureLog(Protocol):
    """Where failures are explained (``registration_log.AsteriskLog``)."""

    def last_failure(self, server_uri: str | None = None) -> RegistrationFailure | None: ...


TrunkListener = Callable[[TrunkState], Awaitable[None]]
Clock = Callable[[], float]


def status_of(ami_status: str, failure: RegistrationFailure | None, *, event: bool) -> TrunkStatus:
    """Our status for Asterisk's. "Unregistered" before any attempt (in a listing) means
    the first attempt is pending; as an event, that someone unregistered it."""
    if ami_status == "Registered":
        return TrunkStatus.REGISTERED
    if ami_status == "Rejected":
        if failure is not None and not failure.answered:
            return TrunkStatus.UNREACHABLE
        return TrunkStatus.REJECTED
    if ami_status == "Unregistered":
        return TrunkStatus.STOPPED if event else TrunkStatus.REGISTERING
    if ami_status in ("Stopped", "Stopping"):
        return TrunkStatus.STOPPED
    return TrunkStatus.REGISTERING


class RegistrationMonitor:
    """Watches one outbound registration (``name``, as in pjsip.conf) and tells listeners
    of every change. State is rebuilt from ``PJSIPShowRegistrationsOutbound`` on every
    (re)connect; while AMI is down it is ``unknown``."""

    def __init__(
        self,
        name: str,
        *,
        failures: FailureLog | None = None,
        clock: Clock = time.time,
        explain_wait: float = EXPLAIN_WAIT,
    ) -> None:
        self.name = name
        self._failures = failures
        self._clock = clock
        self._explain_wait = explain_wait
        self._state = TrunkState(TrunkStatus.UNKNOWN, clock())
        self._last_known: TrunkState | None = None  # the last state that was not unknown
        self._listeners: list[TrunkListener] = []
        self._background = Background(log, "trunk monitor task failed")
        self._generation = 0  # bumped by every update; an older one in flight yields
        self._changed = asyncio.Event()
        self._ami: AmiClient | None = None

    # -- wiring ---------------------------------------------------------------------------

    def subscribe(self, ami: AmiClient) -> None:
        """Every AMI event the monitor handles, in one place."""
        self._ami = ami
        ami.register_event("Registry", self._on_registry)
        ami.on_ready(self._reconnected)
        ami.on_down(self._went_down)

    def add_listener(self, listener: TrunkListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # -- queries --------------------------------------------------------------------------

    @property
    def state(self) -> TrunkState:
        return self._state

    async def wait_settled(self, timeout: float) -> TrunkState:
        """The state once it has an outcome (not registering, not unknown), or as it is
        when ``timeout`` runs out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._state.status in (TrunkStatus.REGISTERING, TrunkStatus.UNKNOWN):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                break
        return self._state

    # -- events ---------------------------------------------------------------------------

    def _on_registry(self, msg: Mapping[str, Any]) -> None:
        event = RegistryEvent.parse(msg)
        if event is None or event.channel_type.upper() != "PJSIP" or not self._ours(event):
            return
        self._generation += 1
        self._background.spawn(self._apply_event(event, self._generation))

    def _ours(self, event: RegistryEvent) -> bool:
        known = self._state
        if not known.server_uri:  # not listed yet: the PBX has just this one registration
            return True
        return (event.server_uri, event.client_uri) == (known.server_uri, known.client_uri)

    async def _apply_event(self, event: RegistryEvent, generation: int) -> None:
        failure = None
        if event.status == "Rejected":
            failure = await self._explain(event.server_uri, event.timestamp)
        if generation != self._generation:
            return  # a newer event (or listing) has the last word
        status = status_of(event.status, failure, event=True)
        note = (
            "unregistered; Asterisk is not trying again" if status is TrunkStatus.STOPPED else None
        )
        self._set(status, failure, at=event.timestamp, reason=note,
                  server_uri=event.server_uri, client_uri=event.client_uri)  # fmt: skip

    async def refresh(self) -> TrunkState:
        """Ask Asterisk for the registration's status now (done on every connect)."""
        ami = self._ami
        if ami is None:
            return self._state
        self._generation += 1
        generation = self._generation
        listing = await ami.list_action({"Action": "PJSIPShowRegistrationsOutbound"})
        details = [d for d in map(RegistrationDetail.parse, listing) if d is not None]
        detail = next((d for d in details if d.name == self.name), None)
        if detail is None:
            if generation == self._generation:
                self._set(TrunkStatus.STOPPED, None,
                          reason="Asterisk has no such registration: see its log")  # fmt: skip
            return self._state
        failure = None
        if detail.status == "Rejected":
            failure = await self._explain(detail.server_uri, None)
        if generation == self._generation:
            status = status_of(detail.status, failure, event=False)
            self._set(
                status,
                failure,
                server_uri=detail.server_uri,
                client_uri=detail.client_uri,
                retry_interval=detail.retry_interval,
            )
        return self._state

    async def _reconnected(self) -> None:
        await self.refresh()

    async def _went_down(self) -> None:
        self._generation += 1
        self._set(TrunkStatus.UNKNOWN, None)

    async def _explain(self, server_uri: str, at: float | None) -> RegistrationFailure | None:
        """The logged failure behind an event at ``at`` (the latest one when None).
        Asterisk's logger thread may write the line a moment after the event."""
        if self._failures is None:
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._explain_wait
        delay = 0.02
        while True:
            failure = await asyncio.to_thread(self._failures.last_failure, server_uri)
            if at is None:
                return failure
            if failure is not None and failure.at is not None and failure.at >= at - 1.0:
                return failure
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)

    # -- state ----------------------------------------------------------------------------

    def _set(
        self,
        status: TrunkStatus,
        failure: RegistrationFailure | None,
        *,
        at: float | None = None,
        reason: str | None = None,
        **fields: Any,
    ) -> None:
        old = self._state
        since = old.since if status is old.status else (at or self._clock())
        if status in (TrunkStatus.REGISTERED, TrunkStatus.REGISTERING, TrunkStatus.UNKNOWN):
            reason, code = None, None
        else:
            reason = failure.reason if failure is not None else reason
            code = failure.code if failure is not None else None
        new = replace(old, status=status, since=since, reason=reason, code=code,
                      **{k: v for k, v in fields.items() if v})  # fmt: skip
        if new == old:
            return
        self._state = new
        self._changed.set()
        self._log_change(new)
        for listener in list(self._listeners):
            self._background.spawn(listener(new))

    def _log_change(self, new: TrunkState) -> None:
        # The first state is the caller's to report (serve's startup line, pbx status);
        # "unknown" is the AMI connection's (it logs its own loss).
        if new.status is TrunkStatus.UNKNOWN:
            return
        last, self._last_known = self._last_known, new
        if last is not None and (last.status, last.reason) != (new.status, new.reason):
            log.log(logging.WARNING if new.down else logging.INFO, "trunk: %s", new.summary())

    async def close(self) -> None:
        for task in list(self._background.tasks):
            task.cancel()
        await asyncio.gather(*self._background.tasks, return_exceptions=True)
