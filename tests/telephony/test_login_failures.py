"""Login failures from AMI security events, without a PBX: only Asterisk's own
``RemoteAddress`` is believed, failures are counted in a sliding window, and a source is
banned once at the threshold (events recorded from Asterisk 22.10)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from panoramisk.message import Message

from deploy.bans import ban_keyer
from telephony.ami import AmiClient
from telephony.bans import FailureCounter, LoginBans, LoginFailure, RemoteAddress
from telephony.errors import PbxUnavailable

CHALLENGE_FAILED = (
    "Event: ChallengeResponseFailed\r\nPrivilege: security,all\r\n"
    "Timestamp: 1795731913.624170\r\nEventTV: 2026-11-26T22:25:13.624+0000\r\n"
    "Severity: Error\r\nService: PJSIP\r\nEventVersion: 1\r\nAccountID: alice\r\n"
    "SessionID: 45470452e4610f68-2@127.0.0.5\r\nLocalAddress: IPV4/UDP/127.0.0.1/15981\r\n"
    "RemoteAddress: IPV4/UDP/127.0.0.5/50284\r\n"
    "Challenge: 1795731913/6fef6f9bdec9892944372b97b28dba50\r\n"
    "Response: 0acf9cf9bd558751425ceb6da6043035\r\nExpectedResponse: \r\n"
)


def event(text: str) -> Message:
    msg = Message.from_line(text)
    assert msg is not None
    return cast(Message, msg)


def invalid_account(account: str, remote: str = "IPV4/UDP/127.0.0.5/50284") -> str:
    return (
        "Event: InvalidAccountID\r\nPrivilege: security,all\r\nSeverity: Error\r\n"
        f"Service: PJSIP\r\nEventVersion: 1\r\nAccountID: {account}\r\n"
        "SessionID: ae3234463c36904-3@127.0.0.5\r\nLocalAddress: IPV4/UDP/127.0.0.1/15981\r\n"
        f"RemoteAddress: {remote}\r\n"
    )


def test_the_source_is_asterisks_remote_address() -> None:
    failure = LoginFailure.parse(event(CHALLENGE_FAILED))
    assert failure is not None
    assert (failure.event, failure.account) == ("ChallengeResponseFailed", "alice")
    assert failure.remote == RemoteAddress(4, "UDP", "127.0.0.5", 50284)
    assert not failure.repeated_address
    v6 = LoginFailure.parse(event(invalid_account("x", "IPV6/TLS/2001:db8::7/5061")))
    assert v6 is not None and v6.remote == RemoteAddress(6, "TLS", "2001:db8::7", 5061)


def test_an_account_name_never_names_the_source() -> None:
    """A From user is the caller's text, and AMI writes it raw: an address-looking account,
    or one carrying a line break and a RemoteAddress line of its own (which arrives before
    Asterisk's), leaves Asterisk's own address in charge."""
    forged = LoginFailure.parse(event(invalid_account("IPV4/UDP/127.0.0.9/5060")))
    assert forged is not None and forged.remote.address == "127.0.0.5"
    injected = event(invalid_account("x\r\nRemoteAddress: IPV4/UDP/10.0.0.9/5"))
    assert injected["RemoteAddress"] == ["IPV4/UDP/10.0.0.9/5", "IPV4/UDP/127.0.0.5/50284"]
    failure = LoginFailure.parse(injected)
    assert failure is not None and failure.remote.address == "127.0.0.5"
    assert failure.repeated_address and failure.account == "x"


def test_cut_off_forged_and_other_events_are_not_failures() -> None:
    # An account name ending the event early: the part with the address has no Privilege.
    head, _, tail = invalid_account("x\r\n\r\nEvent: InvalidPassword").partition("\r\n\r\n")
    assert LoginFailure.parse(event(head + "\r\n")) is None  # no address at all
    assert LoginFailure.parse(event(tail)) is None  # no Privilege: not Asterisk's event
    no_local = invalid_account("x").replace("LocalAddress: IPV4/UDP/127.0.0.1/15981\r\n", "")
    assert LoginFailure.parse(event(no_local)) is None
    ami_login = CHALLENGE_FAILED.replace("Service: PJSIP", "Service: AMI")
    assert LoginFailure.parse(event(ami_login)) is None  # AMI's own logins: not SIP bans
    sent = CHALLENGE_FAILED.replace("ChallengeResponseFailed", "ChallengeSent")
    assert LoginFailure.parse(event(sent)) is None
    for remote in ("IPV4/127.0.0.5/5060", "IPV4/UDP/127.0.0.5", "IPV4/UDP/nothere/5060",
                   "IPV4/UDP/127.0.0.5/99999", "IPV4/UDP/127.0.0.5/5060 "):  # fmt: skip
        parsed = LoginFailure.parse(event(invalid_account("x", remote)))
        assert parsed is None or remote.endswith(" "), remote


def test_failures_count_within_the_window_only() -> None:
    counter = FailureCounter(limit=3, window=10.0, max_sources=2)
    assert [counter.record("a", t) for t in (0, 1, 2)] == [1, 2, 3]
    assert counter.record("a", 11.5) == 2  # 0 and 1 fell out of the window
    counter.record("b", 12)
    counter.record("c", 13)  # one source too many: the quietest (a) is forgotten
    assert len(counter) == 2 and counter.record("a", 14) == 1


class FakeAmi:
    def __init__(self) -> None:
        self.events: dict[str, Any] = {}
        self.ready: list[Any] = []
        self.actions: list[dict[str, str]] = []

    def register_event(self, pattern: str, handler: Any) -> None:
        self.events[pattern] = handler

    def on_ready(self, handler: Any) -> None:
        self.ready.append(handler)

    async def action(self, action: dict[str, str], **_: Any) -> Message:
        self.actions.append(action)
        return Message({"Response": "Success"})


class MemoryBans:
    def __init__(self) -> None:
        self.bans: dict[str, tuple[float, float]] = {}
        self.acl_writes = 0

    def banned(self, now: float) -> frozenset[str]:
        return frozenset(k for k, (_, until) in self.bans.items() if until > now)

    def add(
        self, key: str, *, since: float, until: float, failures: int, accounts: Sequence[str]
    ) -> bool:
        if key in self.banned(since):
            return False
        self.bans[key] = (since, until)
        return True

    def expire(self, now: float) -> list[Any]:
        gone = [k for k, (_, until) in self.bans.items() if until <= now]
        for k in gone:
            del self.bans[k]
        return [type("Ban", (), {"address": k, "since": 0.0, "until": 0.0, "failures": 0})
                for k in gone]  # fmt: skip

    def next_expiry(self) -> float | None:
        return min((until for _, until in self.bans.values()), default=None)

    def write_acl(self) -> None:
        self.acl_writes += 1


async def test_a_source_is_banned_once_at_the_threshold() -> None:
    now = [1000.0]
    store, ami = MemoryBans(), FakeAmi()
    bans = LoginBans(store, ban_keyer(["127.0.0.2/32"]), failures=3, window=60, seconds=100,
                     clock=lambda: now[0])  # fmt: skip
    bans.subscribe(cast(AmiClient, ami))
    assert set(ami.events) == {"InvalidAccountID", "InvalidPassword", "ChallengeResponseFailed",
                               "FailedACL"}  # fmt: skip
    notices: list[Any] = []

    async def note(notice: Any) -> None:
        notices.append(notice)

    bans.add_listener(note)
    handler = ami.events["ChallengeResponseFailed"]
    for _ in range(2):
        handler(event(CHALLENGE_FAILED))
    await bans.wait_idle()
    assert not store.bans and not ami.actions
    for _ in range(5):  # the third bans; the rest come from a source already banned
        handler(event(CHALLENGE_FAILED))
    await bans.wait_idle()
    assert list(store.bans) == ["127.0.0.5"] and store.bans["127.0.0.5"] == (1000.0, 1100.0)
    assert ami.actions == [{"Action": "Reload", "Module": "res_pjsip.so"}]
    assert [(n.kind, n.address, n.failures, n.accounts) for n in notices] == [
        ("added", "127.0.0.5", 3, ("alice",))
    ]
    # Exempt (the trunk's address) and IPv6 sources: never, and per /64.
    trunk = invalid_account("x", "IPV4/UDP/127.0.0.2/5060")
    for _ in range(5):
        ami.events["InvalidAccountID"](event(trunk))
    now[0] = 1050.0
    for n in range(3):
        ami.events["InvalidAccountID"](event(invalid_account("x", f"IPV6/UDP/2001:db8::{n}/5")))
    await bans.wait_idle()
    assert sorted(store.bans) == ["127.0.0.5", "2001:db8::/64"]
    # Running out: lifted, reloaded, told.
    now[0] = 1100.0
    assert await bans.expire_now() == ["127.0.0.5"]
    await bans.wait_idle()
    assert notices[-1].kind == "expired" and len(ami.actions) == 3
    await bans.close()


async def test_a_reload_that_fails_is_retried_when_ami_is_back() -> None:
    store = MemoryBans()

    class FlakyAmi(FakeAmi):
        down = True

        async def action(self, action: dict[str, str], **kw: Any) -> Message:
            if self.down:
                raise PbxUnavailable()
            return await super().action(action, **kw)

    ami = FlakyAmi()
    bans = LoginBans(store, ban_keyer([]), failures=1, window=60, seconds=100)
    bans.subscribe(cast(AmiClient, ami))
    ami.events["InvalidPassword"](event(CHALLENGE_FAILED.replace("ChallengeResponseFailed",
                                                                 "InvalidPassword")))  # fmt: skip
    await bans.wait_idle()
    assert "127.0.0.5" in store.bans and not ami.actions  # listed (and in its ACL) all the same
    ami.down = False
    await ami.ready[0]()  # AMI is back: the ACL is rewritten and reloaded
    assert ami.actions and store.acl_writes == 1
    await bans.close()
