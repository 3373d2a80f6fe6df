"""Bans on bad logins: Asterisk's security events in, banned source addresses out.

Asterisk reports every failed SIP login as an AMI event of class ``security``:
``InvalidAccountID`` (no such account), ``InvalidPassword`` and ``ChallengeResponseFailed``
(a wrong password), ``FailedACL``. :class:`LoginBans` counts them per source and, at the
policy's threshold, bans the source through a :class:`BanList` (the run dir's list and the
PJSIP ACL rendered from it, ``deploy.bans``) and has ``res_pjsip`` reload it. It also lifts
bans that have run out, and tells its listeners (the audit log, the admins' channel) of each
ban once.

The source is read from ``RemoteAddress`` alone, which Asterisk writes itself. Other fields
carry text the caller chose, and AMI does not escape it: an account name holding a line
break and ``RemoteAddress: ...`` arrives as a second ``RemoteAddress`` line *before*
Asterisk's own (measured with Asterisk 22). So the last ``RemoteAddress`` is the one taken,
an event is used only when it is whole (its ``Privilege``, ``LocalAddress`` and
``RemoteAddress`` present, with a transport), and only failures of SIP logins count (AMI
logins have a service of their own and their own limits).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from telephony.ami import AmiClient
from telephony.background import Background
from telephony.errors import PbxActionFailed, PbxUnavailable

log = logging.getLogger(__name__)

FAILURE_EVENTS = ("InvalidAccountID", "InvalidPassword", "ChallengeResponseFailed", "FailedACL")
# Re-reads pjsip.conf and pjsip_bans.conf, each only if changed (sorcery.conf maps the ACLs
# to the latter): a new ban list applies, calls stay up. AMI class system (write).
RELOAD = {"Action": "Reload", "Module": "res_pjsip.so"}
# "IPV4/UDP/203.0.113.5/5060", "IPV6/TLS/2001:db8::1/5061" (main/json.c ast_json_ipaddr).
_REMOTE = re.compile(
    r"^IPV(?P<family>[46])/(?P<transport>UDP|TCP|TLS|WS|WSS)/"
    r"(?P<address>[0-9A-Fa-f:.]{2,45})/(?P<port>\d{1,5})$"
)
MAX_TRACKED = 10_000  # sources counted at once; the quietest are forgotten first
EXPIRY_CHECK = 30.0  # seconds between looks at the list when no ban is due sooner


def _last(value: Any) -> str:
    """The last of a repeated AMI header (panoramisk makes a list of them)."""
    if isinstance(value, list):
        return str(value[-1]) if value else ""
    return "" if value is None else str(value)


def _first(value: Any) -> str:
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return "" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class RemoteAddress:
    family: int  # 4 or 6
    transport: str
    address: str
    port: int

    @classmethod
    def parse(cls, text: str) -> RemoteAddress | None:
        m = _REMOTE.match(text.strip())
        if m is None:
            return None
        port = int(m.group("port"))
        if port > 65535:
            return None
        return cls(int(m.group("family")), m.group("transport"), m.group("address"), port)


@dataclass(frozen=True, slots=True)
class LoginFailure:
    """One failed SIP login, as Asterisk reported it. ``account`` is what the caller
    claimed to be (its choice: escape it wherever it is shown)."""

    event: str
    service: str
    account: str
    remote: RemoteAddress
    repeated_address: bool  # RemoteAddress came more than once: someone tried to forge it

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> LoginFailure | None:
        """A failure from a whole security event of a SIP service; None for anything else."""
        event = _first(msg.get("Event"))
        if event not in FAILURE_EVENTS or "security" not in _first(msg.get("Privilege")):
            return None
        service = _first(msg.get("Service"))
        if service != "PJSIP":
            return None
        if RemoteAddress.parse(_last(msg.get("LocalAddress"))) is None:
            return None  # a cut-off event: the rest of it went into another message
        remote = RemoteAddress.parse(_last(msg.get("RemoteAddress")))
        if remote is None:
            return None
        return cls(
            event=event,
            service=service,
            account=_first(msg.get("AccountID")),
            remote=remote,
            repeated_address=isinstance(msg.get("RemoteAddress"), list),
        )


async def reload_bans(ami: AmiClient, timeout: float = 10.0) -> None:
    """Have Asterisk apply the ban list as its ACL file now stands (PbxUnavailable or
    PbxActionFailed if it cannot)."""
    await ami.action(RELOAD, timeout=timeout)


class FailureCounter:
    """Failures per source within a sliding window; remembers at most ``limit`` of them
    per source and ``max_sources`` sources (the least recently failing go first)."""

    def __init__(self, limit: int, window: float, max_sources: int = MAX_TRACKED) -> None:
        self.limit = limit
        self.window = window
        self.max_sources = max_sources
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def record(self, key: str, now: float) -> int:
        """Count one failure of ``key`` at ``now``; how many it has within the window."""
        times = self._seen.pop(key, None)
        if times is None:
            times = deque(maxlen=self.limit)
        times.append(now)
        self._seen[key] = times
        while len(self._seen) > self.max_sources:
            self._seen.popitem(last=False)
        return sum(1 for t in times if t > now - self.window)

    def forget(self, key: str) -> None:
        self._seen.pop(key, None)

    def __len__(self) -> int:
        return len(self._seen)


class BanList(Protocol):
    """Where bans are kept and turned into an ACL (``deploy.bans.BanFile``)."""

    def banned(self, now: float) -> frozenset[str]: ...

    def add(
        self, key: str, *, since: float, until: float, failures: int, accounts: Sequence[str]
    ) -> bool: ...

    def expire(self, now: float) -> Sequence[Any]: ...

    def next_expiry(self) -> float | None: ...

    def write_acl(self) -> None: ...


@dataclass(frozen=True, slots=True)
class BanNotice:
    """A ban made (``added``) or run out (``expired``)."""

    kind: Literal["added", "expired"]
    address: str  # the ban key: an IPv4 address or an IPv6 /64
    since: float
    until: float
    failures: int = 0
    window: float = 0.0
    accounts: tuple[str, ...] = ()


BanListener = Callable[[BanNotice], Awaitable[None]]
Keyer = Callable[[str], str | None]  # source address -> ban key (None: never banned)
Clock = Callable[[], float]


class LoginBans:
    """Counts login failures per source and bans a source at ``failures`` within
    ``window`` seconds, for ``seconds``. ``key_of`` maps an address to what a ban covers
    (None for an address that is never banned: exempt networks, trunks)."""

    def __init__(
        self,
        bans: BanList,
        key_of: Keyer,
        *,
        failures: int,
        window: float,
        seconds: float,
        clock: Clock = time.time,
    ) -> None:
        self._bans = bans
        self._key_of = key_of
        self.failures = failures
        self.window = window
        self.seconds = seconds
        self._clock = clock
        self._counter = FailureCounter(failures, window)
        self._accounts: dict[str, deque[str]] = {}
        self._pending: set[str] = set()
        self._listeners: list[BanListener] = []
        self._ami: AmiClient | None = None
        self._reload_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._expiry: asyncio.Task[None] | None = None
        self._background = Background(log, "login ban task failed")
        self.forged = 0  # events whose RemoteAddress came twice (diagnostics, tests)
        self._list_broken = False

    # -- wiring ---------------------------------------------------------------------------

    def subscribe(self, ami: AmiClient) -> None:
        """Every AMI event handled, in one place."""
        self._ami = ami
        for name in FAILURE_EVENTS:
            ami.register_event(name, self.on_event)
        ami.on_ready(self._reconnected)

    def add_listener(self, listener: BanListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def close(self) -> None:
        tasks = [*self._background.tasks, *([self._expiry] if self._expiry is not None else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._expiry = None

    # -- events ---------------------------------------------------------------------------

    def on_event(self, msg: Mapping[str, Any]) -> None:
        failure = LoginFailure.parse(msg)
        if failure is None:
            return
        if failure.repeated_address:
            self.forged += 1
            if self.forged == 1 or self.forged % 1000 == 0:  # a flood of them: a line now and then
                log.warning("%d security events with RemoteAddress given twice (a forged "
                            "account name): took Asterisk's own, %s", self.forged,
                            failure.remote.address)  # fmt: skip
        self.count(failure)

    def count(self, failure: LoginFailure) -> None:
        """One failed login; bans its source once it reaches the threshold."""
        key = self._key_of(failure.remote.address)
        if key is None or key in self._pending:
            return
        now = self._clock()
        try:
            banned = self._bans.banned(now)
        except Exception:  # a damaged list: said once in the log; counting goes on
            if not self._list_broken:
                log.exception("could not read the ban list")
            self._list_broken = True
            banned = frozenset()
        else:
            self._list_broken = False
        if key in banned:
            return
        accounts = self._accounts.setdefault(key, deque(maxlen=5))
        if failure.account not in ("", "<unknown>") and (
            not accounts or accounts[-1] != failure.account
        ):
            accounts.append(failure.account)
        if len(self._accounts) > self._counter.max_sources:
            self._accounts.pop(next(iter(self._accounts)))
        count = self._counter.record(key, now)
        if count >= self.failures:
            self._pending.add(key)
            self._background.spawn(self._ban(key, now, count))

    async def _ban(self, key: str, now: float, count: int) -> None:
        accounts = tuple(self._accounts.pop(key, ()))
        self._counter.forget(key)
        try:
            until = now + self.seconds
            added = await asyncio.to_thread(self._bans.add, key, since=now, until=until,
                                            failures=count, accounts=accounts)  # fmt: skip
            if not added:
                return
            log.warning("banned %s for %d s after %d failed logins within %d s", key,
                        self.seconds, count, self.window)  # fmt: skip
            await self.reload()
        finally:
            self._pending.discard(key)
        self._wake.set()
        self._tell(BanNotice("added", key, now, until, count, self.window, accounts))

    async def reload(self) -> bool:
        """Have Asterisk load the ACL as the list now stands; False if it could not (it
        is tried again when AMI is back)."""
        ami = self._ami
        if ami is None:
            return False
        async with self._reload_lock:
            try:
                await reload_bans(ami)
            except (PbxUnavailable, PbxActionFailed) as exc:
                log.warning("the PBX did not reload its ban list (%s); retrying when it is "
                            "back", exc)  # fmt: skip
                return False
            return True

    async def _reconnected(self) -> None:
        if self._expiry is None or self._expiry.done():
            self._expiry = asyncio.ensure_future(self._expire_loop())
        # The list may have changed while AMI was away (bans run out, the CLI lifted one).
        await asyncio.to_thread(self._bans.write_acl)
        await self.reload()

    # -- running out ----------------------------------------------------------------------

    async def expire_now(self) -> list[str]:
        """Lift the bans that have run out; the keys lifted."""
        now = self._clock()
        gone = await asyncio.to_thread(self._bans.expire, now)
        if gone:
            await self.reload()
        for ban in gone:
            log.info("ban on %s ran out", ban.address)
            self._tell(BanNotice("expired", ban.address, ban.since, ban.until, ban.failures))
        return [ban.address for ban in gone]

    async def _expire_loop(self) -> None:
        while True:
            try:
                await self.expire_now()
                due = await asyncio.to_thread(self._bans.next_expiry)
            except Exception:  # a damaged list: said in the log, tried again later
                log.exception("could not check the ban list")
                due = None
            delay = EXPIRY_CHECK if due is None else due - self._clock()
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), min(max(delay, 0.05), EXPIRY_CHECK))
            except TimeoutError:
                pass

    # -- listeners ------------------------------------------------------------------------

    def _tell(self, notice: BanNotice) -> None:
        for listener in list(self._listeners):
            self._background.spawn(listener(notice))

    async def wait_idle(self) -> None:
        """Return once every ban under way and every listener has finished (tests)."""
        while self._background.tasks:
            await asyncio.gather(*list(self._background.tasks), return_exceptions=True)
