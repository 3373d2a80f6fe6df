"""The registration trunk in Slack: admins see it in ``/conference setup``; the admins'
channel hears once when it has been lost for a minute, and again when it is back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any, cast

import pytest
from slack_sdk.models.blocks import Block

from bot.service import ConferenceService
from bot.wiring import Deps
from commands.app import SlackRunner
from commands.blocks.trunk import duration, trunk_line
from commands.trunk_alerts import OutageWatch, TrunkAlerts
from telephony.ami import AmiClient
from telephony.registration import RegistrationMonitor, TrunkState, TrunkStatus
from telephony.registration_log import RegistrationFailure
from tests.commands.conftest import ADMIN, ADMIN_CHANNEL, ALICE, HttpDriver
from tests.fake_slack import FakeSlack
from tests.telephony.test_registration import CLIENT, SERVER, FakeAmi, FakeLog, detail, registry

REGISTERED = TrunkState(TrunkStatus.REGISTERED, 1000.0, SERVER, CLIENT, retry_interval=10)
UNREACHABLE = replace(REGISTERED, status=TrunkStatus.UNREACHABLE,
                      reason="no answer from the provider")  # fmt: skip
UNKNOWN = replace(REGISTERED, status=TrunkStatus.UNKNOWN)


# -- when to tell: the pure logic, on a clock the test turns -------------------------------


def test_a_short_loss_is_not_reported() -> None:
    watch = OutageWatch(60)
    assert watch.observe(UNREACHABLE, 0) is None
    assert watch.due_at() == 60
    assert watch.check(59.9) is None
    assert watch.observe(REGISTERED, 59.9) is None
    assert watch.due_at() is None and watch.check(1000) is None


def test_a_loss_is_reported_once_then_its_end() -> None:
    watch = OutageWatch(60)
    assert watch.observe(UNREACHABLE, 100) is None
    rejected = replace(UNREACHABLE, status=TrunkStatus.REJECTED, reason="403 Forbidden")
    assert watch.observe(rejected, 130) is None  # still the same loss
    lost = watch.check(160)
    assert lost is not None and (lost.kind, lost.down_since, lost.state) == ("lost", 100, rejected)
    assert watch.check(500) is None and watch.observe(UNREACHABLE, 600) is None  # once
    assert watch.due_at() is None
    back = watch.observe(REGISTERED, 700)
    assert back is not None and (back.kind, back.down_since, back.at) == ("back", 100, 700)
    assert watch.observe(REGISTERED, 710) is None
    # Lost again: a new loss, a new notice.
    assert watch.observe(UNREACHABLE, 800) is None
    again = watch.check(860)
    assert again is not None and again.kind == "lost" and again.down_since == 800


def test_an_observation_past_the_threshold_reports_at_once() -> None:
    watch = OutageWatch(60)
    watch.observe(UNREACHABLE, 0)
    notice = watch.observe(UNREACHABLE, 61)
    assert notice is not None and notice.kind == "lost"


def test_a_loss_counts_from_when_the_monitor_saw_it() -> None:
    """Slack connected late: the trunk has been down since 1000, seen now at 1070."""
    watch = OutageWatch(60)
    notice = watch.observe(UNREACHABLE, 1070)
    assert notice is not None and notice.down_since == 1000


def test_the_pbx_being_offline_is_no_news_about_the_trunk() -> None:
    watch = OutageWatch(60)
    assert watch.observe(UNKNOWN, 0) is None and watch.due_at() is None
    watch.observe(UNREACHABLE, 10)
    assert watch.observe(UNKNOWN, 20) is None and watch.due_at() == 70  # neither ends it
    assert watch.check(70) is not None


def test_durations() -> None:
    assert [duration(s) for s in (0, 45, 60, 192, 3600, 7500)] == [
        "0 s", "45 s", "1 min", "3 min 12 s", "1 h", "2 h 5 min",
    ]  # fmt: skip


# -- posting to the admins' channel --------------------------------------------------------


class FakeMonitor:
    """What TrunkAlerts uses of the monitor: its state and its listeners."""

    def __init__(self, state: TrunkState) -> None:
        self.state = state
        self.listeners: list[Any] = []

    def add_listener(self, listener):
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    async def become(self, state: TrunkState) -> None:
        self.state = state
        for listener in list(self.listeners):
            await listener(state)


@pytest.fixture
async def alerts(live) -> AsyncIterator[tuple[TrunkAlerts, FakeMonitor]]:
    monitor = FakeMonitor(REGISTERED)
    alerts = TrunkAlerts(cast(RegistrationMonitor, monitor), live.client, ADMIN_CHANNEL,
                         threshold=0.2)  # fmt: skip
    alerts.start()
    yield alerts, monitor
    await alerts.stop()


async def test_admins_hear_once_of_a_loss_and_of_its_end(
    alerts: tuple[TrunkAlerts, FakeMonitor], fake: FakeSlack
) -> None:
    poster, monitor = alerts
    hostile = replace(UNREACHABLE, reason="<!channel> <https://evil.example|click>",
                      server_uri="sip:<@U123>@x", since=time.time())  # fmt: skip
    await monitor.become(hostile)
    await asyncio.sleep(0.1)
    await monitor.become(replace(hostile, since=time.time()))  # news, but the same loss
    assert not fake.calls_to("chat.postMessage")
    lost = await fake.wait_for("chat.postMessage")
    assert lost.args["channel"] == ADMIN_CHANNEL
    shown = str(lost.args["blocks"])
    assert "cannot reach the conference server" in shown and "unreachable" in shown
    assert "&lt;!channel&gt;" in shown and "<!channel>" not in shown
    assert "&lt;@U123&gt;" in shown and "<https://evil" not in shown
    for block in lost.args["blocks"]:
        Block.parse(block).validate_json()  # type: ignore[union-attr]
    await asyncio.sleep(0.4)
    await monitor.become(replace(hostile, status=TrunkStatus.REJECTED))
    await poster.wait_idle()
    assert len(fake.calls_to("chat.postMessage")) == 1  # once per loss

    await monitor.become(REGISTERED)
    back = await fake.wait_for("chat.postMessage", count=2)
    assert "back" in back.args["text"] and "registered to" in str(back.args["blocks"])

    await monitor.become(replace(UNREACHABLE, since=time.time()))  # lost again
    await fake.wait_for("chat.postMessage", count=3)
    await monitor.become(UNKNOWN)
    await asyncio.sleep(0.3)
    assert len(fake.calls_to("chat.postMessage")) == 3


async def test_a_loss_shorter_than_the_threshold_is_not_posted(
    alerts: tuple[TrunkAlerts, FakeMonitor], fake: FakeSlack
) -> None:
    _, monitor = alerts
    await monitor.become(replace(UNREACHABLE, since=time.time()))
    await asyncio.sleep(0.1)
    await monitor.become(REGISTERED)
    await asyncio.sleep(0.3)
    assert not fake.calls_to("chat.postMessage")


# -- /conference setup, through the real app -----------------------------------------------


@pytest.fixture
def trunk() -> RegistrationMonitor:
    return RegistrationMonitor("provider", failures=FakeLog(), clock=lambda: 1795729568.0)


@pytest.fixture
def deps(deps: Deps, trunk: RegistrationMonitor) -> Deps:
    return replace(deps, trunk=trunk)


async def test_setup_shows_admins_the_trunk(
    slack: HttpDriver, service: ConferenceService, trunk: RegistrationMonitor, runner: SlackRunner
) -> None:
    ami = FakeAmi([detail("Registered")])
    trunk.subscribe(cast(AmiClient, ami))
    await ami.ready[0]()
    assert runner.alerts is not None  # the runner follows the trunk for the admins' channel

    await slack.command("setup", user=ADMIN)
    shown = (await slack.fake.wait_for("response_url")).args["text"]
    assert shown.startswith("Conference server: extension 800, phone number none.\n")
    assert f"registered to `{SERVER}` as `conference-trunk` since <!date^1795729568^" in shown
    server = await service.get_server()
    assert server is not None and server.extension == "800"  # nothing changed

    log = cast(FakeLog, trunk._failures)
    log.failures.append(RegistrationFailure(403, 1795729600.0, 30, SERVER))
    ami.events["Registry"](registry("Rejected", 1795729600.1))
    await asyncio.sleep(0.05)
    await slack.command("setup 801", user=ADMIN)
    shown = (await slack.fake.wait_for("response_url", count=2)).args["text"]
    assert shown.startswith("Conference server extension is now 801.\n:warning: ")
    assert "*rejected* (403 Forbidden: the provider refuses this account" in shown
    assert "Asterisk tries again every 10 s." in shown

    await slack.command("setup", user=ALICE)  # not an admin: refused, sees nothing of it
    refused = (await slack.fake.wait_for("response_url", count=3)).args["text"]
    assert refused.startswith("Only workspace admins") and "trunk" not in refused


def test_trunk_lines_escape_what_the_pbx_says() -> None:
    state = replace(UNREACHABLE, reason="<!here>", server_uri="sip:a&b")
    line = trunk_line(state)
    assert "&lt;!here&gt;" in line and "sip:a&amp;b" in line
    assert (
        trunk_line(UNKNOWN) == ":grey_question: Phone provider trunk: unknown, the PBX is offline."
    )
