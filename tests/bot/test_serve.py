"""`conference-bot serve`, the product as `./dev run` starts it: PBX, AMI and Slack together.

The ``serve`` fixture starts it as a subprocess; ``serve(env=served.env)`` starts another on
the same settings (and so the same PBX), as after a crash."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest

from deploy.daemon import stop_detached
from tests.commands.conftest import ALICE, CHANNEL, SECRET, sign, slash_command
from tests.fake_slack import FakeSlack
from tests.pbx_fixtures import assert_not_root, eventually, free_both, free_port, reachable_dir
from tests.ports import rtp_range, sipp_base
from tests.telephony.sipp import Sipp


class Served:
    def __init__(self, proc: asyncio.subprocess.Process, env: dict[str, str], cwd: Path) -> None:
        self.proc = proc
        self.env = env
        self.cwd = cwd
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.lines.append(raw.decode(errors="replace").rstrip())

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    async def wait_log(self, text: str, timeout: float = 60) -> None:
        try:
            await eventually(lambda: text in self.log, timeout=timeout, what=f"{text!r} in the log")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; serve wrote:\n{self.log[-3000:]}") from None

    async def cli(self, *argv: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", *argv, cwd=self.cwd, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        out, _ = await proc.communicate()
        return proc.returncode or 0, out.decode()

    async def stop(self) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), 60)
        await self._reader
        return code


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[object]:
    started: list[Served] = []

    async def start(env: dict[str, str] | None = None, **extra: str) -> Served:
        if env is None:
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith(("PBX_", "CONFERENCE_", "SLACK_"))}  # fmt: skip
            first, last = rtp_range(100)
            env |= {
                # Within reach of the user Asterisk runs as when the tests run as root.
                "PBX_RUN_DIR": str(reachable_dir() / "pbx"),
                "PBX_SIP_PORT": str(free_both()),
                "PBX_AMI_PORT": str(free_port(socket.SOCK_STREAM)),
                "PBX_HTTP_PORT": str(free_port(socket.SOCK_STREAM)),
                "PBX_RTP_PORTS": f"{first}-{last}",
                "PBX_PHONES": "alice:alice-password-1",
            }
        env = env | extra
        served = Served(
            await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "serve", cwd=tmp_path, env=env,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            ),
            env,
            tmp_path,
        )  # fmt: skip
        started.append(served)
        return served

    yield start
    for served in started:
        await served.stop()
    for run in {served.env["PBX_RUN_DIR"] for served in started}:
        stop_detached(Path(run))  # the PBX outlives a killed serve: never the test


async def test_without_slack_the_pbx_still_takes_calls(serve, tmp_path: Path) -> None:
    served: Served = await serve()
    await served.wait_log("Ready:")
    assert "SLACK_BOT_TOKEN is not set" in served.log  # says what is missing, and where
    assert "api.slack.com/apps" in served.log
    assert (await served.cli("server", "setup"))[0] == 0
    assert (await served.cli("rooms", "create", "--name", "Sales", "--id", "4321"))[0] == 0
    code, out = await served.cli("pbx", "status", "--json")
    assert code == 0 and json.loads(out)["running"] is True
    assert_not_root(json.loads(out)["pid"])  # run as root, serve starts it as PBX_RUN_USER

    (tmp_path / "sipp").mkdir()
    sipp = Sipp(int(served.env["PBX_SIP_PORT"]), sipp_base(), tmp_path / "sipp")
    call = asyncio.create_task(sipp.call("800", dtmf="4321#", hold_ms=4000))

    async def one_in() -> bool:
        code, out = await served.cli("rooms", "list", "--json")
        return code == 0 and json.loads(out)[0]["participants"] == 1

    await eventually(one_in, timeout=20, what="the caller counted")
    assert (await call).ok

    assert await served.stop() == 0
    assert "Traceback" not in served.log
    assert (await served.cli("pbx", "status", "--json"))[0] == 3  # serve stopped its Asterisk


async def test_unreachable_slack_is_retried_and_the_pbx_keeps_running(serve) -> None:
    closed = free_port(socket.SOCK_STREAM)
    served: Served = await serve(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET="secret",
        SLACK_API_URL=f"http://127.0.0.1:{closed}/api/",
        SLACK_HTTP_PORT=str(free_port(socket.SOCK_STREAM)),
    )
    await served.wait_log("cannot reach Slack")
    await served.wait_log("Ready:")
    code, out = await served.cli("pbx", "status", "--json")
    assert code == 0 and json.loads(out)["running"] is True
    assert await served.stop() == 0
    assert "Traceback" not in served.log and "xoxb-test" not in served.log


async def test_slash_command_through_the_running_product(serve) -> None:
    fake = await FakeSlack().start()
    try:
        port = free_port(socket.SOCK_STREAM)
        served: Served = await serve(
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=fake.api_url,
            SLACK_HTTP_PORT=str(port),
        )
        await served.wait_log("Slack: HTTP mode")
        await served.cli("server", "setup")
        await served.cli("rooms", "create", "--name", "Sales", "--id", "4321", "--pin", "2468")
        body = urlencode(slash_command("list", user=ALICE, channel=CHANNEL,
                                       response_url=fake.response_url()))  # fmt: skip
        headers = sign(body) | {"Content-Type": "application/x-www-form-urlencoded"}
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/slack/events"
            async with session.post(url, data=body, headers=headers) as response:
                assert response.status == 200
                listed = await response.json()  # the list is in the acknowledgement
            async with session.post(url, data=body, headers=dict(headers, **{
                    "X-Slack-Signature": "v0=" + "0" * 64})) as forged:  # fmt: skip
                assert forged.status == 401
        assert "Sales" in str(listed) and "`4321`" in str(listed)
        assert "2468" not in str(listed) and "PBX offline" not in str(listed)

        # Text typed in Slack reaches the log (a refused lookup names it) without its
        # control characters: no ESC for the terminal tailing it, no NUL, no forged line.
        hostile = "edit \x1b]0;owned\x07\x1b[2J\x00\nINFO forged line"
        body = urlencode(slash_command(hostile, user=ALICE, channel=CHANNEL,
                                       response_url=fake.response_url()))  # fmt: skip
        headers = sign(body) | {"Content-Type": "application/x-www-form-urlencoded"}
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://127.0.0.1:{port}/slack/events", data=body, headers=headers
            ) as response,
        ):
            assert response.status == 200
        await fake.wait_for("response_url", timeout=10)
        assert len(fake.calls_to("response_url")) == 1  # the forged request did nothing
        assert await served.stop() == 0
        assert "\\x1b]0;owned" in served.log  # the line is there, escaped
        assert not any(ch in served.log for ch in "\x1b\x00\x07")
        assert not any(line.startswith("INFO forged") for line in served.lines)
        assert "Traceback" not in served.log and "xoxb-test" not in served.log
        run = Path(served.env["PBX_RUN_DIR"])
        ami = json.loads((run / "ami-credentials.json").read_text())
        assert ami["password"] not in served.log and "2468" not in served.log
    finally:
        await fake.close()
