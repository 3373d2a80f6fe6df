"""The registration trunk's state from AMI messages and Asterisk's log lines, without a PBX:
parsing at the edge, the status mapping, and the monitor's ordering."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, cast

from panoramisk.message import Message

from telephony.ami import AmiClient
from telephony.registration import (
    RegistrationDetail,
    RegistrationMonitor,
    RegistryEvent,
    TrunkState,
    TrunkStatus,
    status_of,
    user_of,
)
from telephony.registration_log import AsteriskLog, RegistrationFailure, last_failure, parse_line

SERVER = "sip:127.0.0.4:5060"
CLIENT = "sip:conference-trunk@127.0.0.4:5060"
W = "WARNING[25039] res_pjsip_outbound_registration.c: "


def line(text: str, at: str = "2026-11-26 21:46:08.006", prefix: str = W) -> str:
    return f"[{at}] {prefix}{text}"


def registry(status: str, ts: float | None = None, **extra: str) -> Message:
    fields = {"Event": "Registry", "Privilege": "system,all", "ChannelType": "PJSIP",
              "Username": CLIENT, "Domain": SERVER, "Status": status, **extra}  # fmt: skip
    if ts is not None:
        fields["Timestamp"] = f"{ts:.6f}"
    return Message(fields)


def detail(status: str, **extra: str) -> Message:
    return Message({"Event": "OutboundRegistrationDetail", "ObjectType": "registration",
                    "ObjectName": "provider", "ServerUri": SERVER, "ClientUri": CLIENT,
                    "ContactUser": "conference-trunk", "Endpoint": "provider",
                    "RetryInterval": "10", "Expiration": "120", "Status": status,
                    "NextReg": "0", **extra})  # fmt: skip


AUTH_DETAIL = Message({"Event": "AuthDetail", "ObjectType": "auth", "ObjectName": "provider-auth",
                       "Username": "conference-trunk", "Password": "s3cret"})  # fmt: skip


# -- AMI at the edge -----------------------------------------------------------------------


def test_registry_event_is_parsed() -> None:
    event = RegistryEvent.parse(registry("Rejected", 1795729568.00699, Cause="x"))
    assert event == RegistryEvent("PJSIP", CLIENT, SERVER, "Rejected", "x", 1795729568.00699)
    assert RegistryEvent.parse(Message({"Event": "Hangup"})) is None


def test_registration_detail_keeps_no_password() -> None:
    parsed = RegistrationDetail.parse(detail("Registered"))
    assert parsed == RegistrationDetail("provider", SERVER, CLIENT, "conference-trunk",
                                        "provider", "Registered", 10, 120)  # fmt: skip
    assert RegistrationDetail.parse(AUTH_DETAIL) is None
    assert "s3cret" not in repr(parsed)


def test_user_of_a_uri() -> None:
    assert user_of(CLIENT) == "conference-trunk"
    assert user_of("sips:+15551234567@sip.example.net;transport=tls") == "+15551234567"
    assert user_of(SERVER) == ""


def test_status_mapping() -> None:
    no_answer = RegistrationFailure(None, None, 10)
    refused = RegistrationFailure(401, None, 10)
    assert status_of("Registered", None, event=True) is TrunkStatus.REGISTERED
    assert status_of("Rejected", no_answer, event=True) is TrunkStatus.UNREACHABLE
    assert status_of("Rejected", refused, event=True) is TrunkStatus.REJECTED
    assert status_of("Rejected", None, event=True) is TrunkStatus.REJECTED
    # Listed before the first attempt: pending; as an event: someone unregistered it.
    assert status_of("Unregistered", None, event=False) is TrunkStatus.REGISTERING
    assert status_of("Unregistered", None, event=True) is TrunkStatus.STOPPED
    assert status_of("Stopped", None, event=False) is TrunkStatus.STOPPED


def test_summaries() -> None:
    reg = TrunkState(TrunkStatus.REGISTERED, 0.0, SERVER, CLIENT)
    assert reg.summary() == f"registered to {SERVER} as conference-trunk"
    rejected = TrunkState(TrunkStatus.REJECTED, 0.0, SERVER, CLIENT, "403 Forbidden", 403, 10)
    assert rejected.summary() == "rejected (403 Forbidden); retrying every 10 s"
    assert rejected.down and not rejected.registered
    unknown = TrunkState(TrunkStatus.UNKNOWN, 0.0)
    assert not unknown.down and unknown.summary() == "unknown (the PBX is offline)"
    assert rejected.as_json()["sip_status"] == 403 and rejected.as_json()["user"]


# -- Asterisk's log ------------------------------------------------------------------------


def test_every_failure_wording() -> None:
    cases = {
        f"Temporal response '401' received from '{SERVER}' on registration attempt to "
        f"'{CLIENT}', retrying in '10'": (401, 10),
        f"No response received from '{SERVER}' on registration attempt to '{CLIENT}', "
        "retrying in '10'": (None, 10),
        f"403 Forbidden fatal response received from '{SERVER}' on registration attempt to "
        f"'{CLIENT}', retrying in '30' seconds": (403, 30),
        f"'404' fatal response received from '{SERVER}' on registration attempt to "
        f"'{CLIENT}', retrying in '30' seconds": (404, 30),
        f"Fatal response '404' received from '{SERVER}' on registration attempt to "
        f"'{CLIENT}', stopping outbound registration": (404, None),
    }
    for text, (code, retry) in cases.items():
        failure = parse_line(line(text))
        assert failure is not None, text
        assert (failure.code, failure.retry_in, failure.server_uri) == (code, retry, SERVER)
        assert (
            failure.at
            == time.mktime(time.strptime("2026-11-26 21:46:08", "%Y-%m-%d %H:%M:%S")) + 0.006
        )  # noqa: E501
    stopped = parse_line(line(f"Fatal registration attempt to '{CLIENT}', stopping outbound "
                              "registration"))  # fmt: skip
    assert stopped is not None and stopped.code is None and stopped.retry_in is None


def test_reasons_a_person_reads() -> None:
    assert RegistrationFailure(None, None, 10).reason == "no answer from the provider"
    assert RegistrationFailure(401, None, 10).reason == (
        "401 Unauthorized: check PBX_TRUNK_USER and PBX_TRUNK_PASSWORD"
    )
    assert RegistrationFailure(503, None, 10).reason == "503 Service Unavailable"
    assert RegistrationFailure(499, None, 10).reason == "499 error"


def test_other_lines_are_not_failures() -> None:
    assert parse_line(line("anything else")) is None
    # Another module's line that quotes the wording (text a caller chose) is not one.
    text = (
        "Temporal response '200' received from 'x' on registration attempt to 'y', retrying in '1'"  # noqa: E501
    )
    forged = line(text, prefix="NOTICE[1] res_pjsip/pjsip_distributor.c: ")
    assert parse_line(forged) is None
    assert parse_line("Temporal response '401' received") is None


def test_the_newest_failure_since_asterisk_started(tmp_path: Path) -> None:
    temporal = f"Temporal response '401' received from '{SERVER}' on registration attempt to 'c', retrying in '10'"  # noqa: E501
    other = "No response received from 'sip:other:5060' on registration attempt to 'c', retrying in '10'"  # noqa: E501
    banner = "[2026-11-26 21:50:00.000] Asterisk 22.10.1 built by nobody @ buildd"
    lines = [line(temporal), line(other, "2026-11-26 21:46:09.000")]
    assert last_failure(lines, SERVER) is not None and last_failure(lines, SERVER).code == 401  # type: ignore[union-attr]
    assert last_failure(lines) is not None and last_failure(lines).code is None  # type: ignore[union-attr]
    assert last_failure([*lines, banner], SERVER) is None  # from an earlier run

    log_file = tmp_path / "messages.log"
    log_file.write_text("x" * 100 + "\n" + "\n".join(lines) + "\n")
    assert AsteriskLog(log_file, tail_bytes=len(lines[0]) + len(lines[1]) + 10).last_failure(
        SERVER
    ) == parse_line(lines[0])
    assert AsteriskLog(tmp_path / "missing.log").last_failure() is None


# -- the monitor ---------------------------------------------------------------------------


class FakeAmi:
    def __init__(self, listing: list[Message]) -> None:
        self.listing = listing
        self.events: dict[str, Any] = {}
        self.ready: list[Any] = []
        self.down: list[Any] = []

    def register_event(self, pattern: str, handler: Any) -> None:
        self.events[pattern] = handler

    def on_ready(self, handler: Any) -> None:
        self.ready.append(handler)

    def on_down(self, handler: Any) -> None:
        self.down.append(handler)

    async def list_action(self, action: dict[str, str], **_: Any) -> list[Message]:
        assert action == {"Action": "PJSIPShowRegistrationsOutbound"}
        return self.listing


class FakeLog:
    def __init__(self) -> None:
        self.failures: list[RegistrationFailure] = []

    def last_failure(self, server_uri: str | None = None) -> RegistrationFailure | None:
        return self.failures[-1] if self.failures else None


def monitor_on(ami: FakeAmi, log: FakeLog | None = None, **kw: Any) -> RegistrationMonitor:
    monitor = RegistrationMonitor("provider", failures=log, clock=lambda: 1000.0, **kw)
    monitor.subscribe(cast(AmiClient, ami))
    return monitor


async def settle(monitor: RegistrationMonitor) -> None:
    for _ in range(20):
        await asyncio.sleep(0)
    await asyncio.gather(*monitor._background.tasks)


async def test_refresh_then_events() -> None:
    ami = FakeAmi([detail("Registered"), AUTH_DETAIL])
    log = FakeLog()
    monitor = monitor_on(ami, log)
    seen: list[TrunkState] = []

    async def listen(state: TrunkState) -> None:
        seen.append(state)

    monitor.add_listener(listen)
    assert monitor.state.status is TrunkStatus.UNKNOWN
    await ami.ready[0]()
    assert monitor.state == TrunkState(TrunkStatus.REGISTERED, 1000.0, SERVER, CLIENT,
                                       retry_interval=10)  # fmt: skip

    log.failures.append(RegistrationFailure(401, 2000.0, 10, SERVER))
    ami.events["Registry"](registry("Rejected", 2000.2))
    await settle(monitor)
    state = monitor.state
    assert (state.status, state.code, state.since) == (TrunkStatus.REJECTED, 401, 2000.2)
    assert state.retry_interval == 10  # kept from the listing

    # The same status again keeps its "since"; a new reason is news.
    log.failures.append(RegistrationFailure(None, 2010.0, 10, SERVER))
    ami.events["Registry"](registry("Rejected", 2010.1))
    await settle(monitor)
    assert (monitor.state.status, monitor.state.since) == (TrunkStatus.UNREACHABLE, 2010.1)
    ami.events["Registry"](registry("Registered", 2020.0))
    await settle(monitor)
    assert monitor.state.registered and monitor.state.reason is None
    assert [s.status for s in seen] == [
        TrunkStatus.REGISTERED,
        TrunkStatus.REJECTED,
        TrunkStatus.UNREACHABLE,
        TrunkStatus.REGISTERED,
    ]

    await ami.down[0]()
    assert monitor.state.status is TrunkStatus.UNKNOWN
    assert monitor.state.server_uri == SERVER  # still knows what it watches


async def test_a_later_event_wins_over_one_still_being_explained() -> None:
    ami = FakeAmi([detail("Registered")])
    log = FakeLog()  # no line for the rejection: explaining it waits out explain_wait
    monitor = monitor_on(ami, log, explain_wait=0.2)
    await ami.ready[0]()
    ami.events["Registry"](registry("Rejected", 2000.0))
    ami.events["Registry"](registry("Registered", 2000.1))
    await settle(monitor)
    assert monitor.state.registered


async def test_a_rejection_without_a_log_line_is_rejected_for_unknown_reasons() -> None:
    ami = FakeAmi([detail("Registered")])
    monitor = monitor_on(ami, FakeLog(), explain_wait=0.05)
    await ami.ready[0]()
    ami.events["Registry"](registry("Rejected", 2000.0))
    await settle(monitor)
    assert monitor.state.status is TrunkStatus.REJECTED
    assert monitor.state.summary() == "rejected (reason unknown); retrying every 10 s"


async def test_events_of_other_registrations_are_ignored() -> None:
    ami = FakeAmi([detail("Registered")])
    monitor = monitor_on(ami)
    await ami.ready[0]()
    ami.events["Registry"](registry("Rejected", 2000.0, Domain="sip:elsewhere"))
    ami.events["Registry"](registry("Rejected", 2000.0, ChannelType="IAX2"))
    await settle(monitor)
    assert monitor.state.registered


async def test_unregistered_by_someone_is_stopped() -> None:
    ami = FakeAmi([detail("Registered")])
    monitor = monitor_on(ami)
    await ami.ready[0]()
    ami.events["Registry"](registry("Unregistered", 2000.0))
    await settle(monitor)
    assert monitor.state.summary() == "stopped (unregistered; Asterisk is not trying again)"


async def test_a_registration_asterisk_did_not_load_is_stopped() -> None:
    ami = FakeAmi([])
    monitor = monitor_on(ami)
    await ami.ready[0]()
    assert monitor.state.status is TrunkStatus.STOPPED
    assert "no such registration" in monitor.state.summary()


async def test_wait_settled() -> None:
    ami = FakeAmi([detail("Unregistered")])  # the first REGISTER has not gone out yet
    monitor = monitor_on(ami)
    await ami.ready[0]()
    assert monitor.state.status is TrunkStatus.REGISTERING
    assert (await monitor.wait_settled(0.05)).status is TrunkStatus.REGISTERING
    waiting = asyncio.create_task(monitor.wait_settled(5))
    await asyncio.sleep(0.01)
    ami.events["Registry"](registry("Registered", 2000.0))
    assert (await waiting).registered
