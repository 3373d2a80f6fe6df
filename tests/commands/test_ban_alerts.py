"""The admins' channel hears of each ban on a source of bad logins once, through the real
Slack front end (``start_slack`` wires the alerts when serve hands it the login bans), with
the account names the source tried escaped."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import cast

import pytest
from slack_sdk.models.blocks import Block

from bot.wiring import Deps
from commands.app import SlackRunner
from deploy.bans import ban_keyer
from telephony.ami import AmiClient
from telephony.bans import LoginBans
from tests.commands.conftest import ADMIN_CHANNEL
from tests.fake_slack import FakeSlack
from tests.telephony.test_login_failures import FakeAmi, MemoryBans, event, invalid_account

HOSTILE = "<!channel>`*x*`\x1b[2J"


@pytest.fixture
def ami() -> FakeAmi:
    return FakeAmi()


@pytest.fixture
def deps(deps: Deps, ami: FakeAmi) -> Deps:
    bans = LoginBans(MemoryBans(), ban_keyer([]), failures=3, window=600, seconds=3600)
    bans.subscribe(cast(AmiClient, ami))
    return dataclasses.replace(deps, bans=bans)


async def test_each_ban_is_posted_once(
    runner: SlackRunner, deps: Deps, ami: FakeAmi, fake: FakeSlack
) -> None:
    assert runner.ban_alerts is not None and deps.bans is not None
    for _ in range(8):  # 3 ban it; the rest come from a source already banned
        ami.events["InvalidAccountID"](event(invalid_account(HOSTILE)))
    await deps.bans.wait_idle()
    posted = await fake.wait_for("chat.postMessage")
    assert posted.args["channel"] == ADMIN_CHANNEL
    shown = str(posted.args["blocks"])
    assert "Banned `127.0.0.5`" in shown and "3 failed phone logins" in shown
    assert "&lt;!channel&gt;" in shown and "<!channel>" not in shown
    tried = posted.args["blocks"][1]["elements"][0]["text"]
    assert "\x1b" not in tried and "`&lt;!channel&gt;\\x60*x*\\x60\\x1b[2J`" in tried
    assert "conference-bot bans clear 127.0.0.5" in shown
    for block in posted.args["blocks"]:
        Block.parse(block).validate_json()  # type: ignore[union-attr]

    ami.events["InvalidAccountID"](event(invalid_account("x", "IPV4/UDP/127.0.0.6/5060")))
    await asyncio.sleep(0.2)
    assert len(fake.calls_to("chat.postMessage")) == 1  # not yet at the threshold
    for _ in range(2):
        ami.events["InvalidAccountID"](event(invalid_account("x", "IPV4/UDP/127.0.0.6/5060")))
    await deps.bans.wait_idle()
    second = await fake.wait_for("chat.postMessage", count=2)
    assert "127.0.0.6" in second.args["text"]
    await deps.bans.close()
