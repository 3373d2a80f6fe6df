"""Calls outlive the bot, with the real product (`python -m bot serve`), a real Asterisk and
sipp callers: `kill -9` of serve leaves every call up and the next serve adopts the PBX and
counts them; Asterisk killed under a running serve is back within 2 s, and so is AMI."""

from __future__ import annotations

import ast
import asyncio
import json
import os
import signal
import socket
import sqlite3
import time
from contextlib import closing
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

from tests.bot.test_serve import Served, serve  # noqa: F401 (the fixture)
from tests.commands.conftest import ALICE, CHANNEL, SECRET, sign, slash_command
from tests.fake_slack import FakeSlack
from tests.pbx_fixtures import assert_not_root, eventually, free_port
from tests.ports import sipp_base
from tests.telephony.sipp import Sipp, SippResult

RESTART_BUDGET = 2.0  # s: a restarted serve counts the calls; a killed Asterisk is back
AMI_BUDGET = 1.0  # s: from a restarted Asterisk booted to AMI ready


def logged_at(line: str) -> float:
    """When serve wrote a log line (its asctime, to the millisecond)."""
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def reconciled(served: Served) -> dict[int, int] | None:
    """The counts of serve's tracker at its last reconcile (room id -> callers)."""
    mark = "tracker reconciled: "
    lines = [line for line in served.lines if mark in line]
    if not lines:
        return None
    text = lines[-1].split(mark, 1)[1]
    return {} if text == "no active rooms" else dict(ast.literal_eval(text))


def room_ids(served: Served) -> dict[str, int]:
    with closing(sqlite3.connect(served.cwd / "data" / "conference.db")) as db:
        return {cid: rid for rid, cid in db.execute("SELECT id, conference_id FROM rooms")}


async def pbx_pid(served: Served) -> int:
    code, out = await served.cli("pbx", "status", "--json")
    assert code == 0, out
    return int(json.loads(out)["pid"])


async def in_room(served: Served, room: str) -> int:
    """Callers in ``room`` as the PBX reports them (the CLI's own AMI connection)."""
    code, out = await served.cli("rooms", "participants", room, "--json")
    assert code == 0, out
    return len(json.loads(out))


async def two_rooms(served: Served) -> None:
    assert (await served.cli("server", "setup"))[0] == 0
    assert (await served.cli("rooms", "create", "--name", "Sales", "--id", "4321"))[0] == 0
    created = await served.cli("rooms", "create", "--name", "Support", "--id", "5555",
                               "--pin", "2468")  # fmt: skip
    assert created[0] == 0


def callers(sipp: Sipp, keys: list[str], hold_ms: int) -> list[asyncio.Task[SippResult]]:
    return [
        asyncio.create_task(sipp.call("800", dtmf=dtmf, hold_ms=hold_ms, tag=f"caller{n}"))
        for n, dtmf in enumerate(keys)
    ]


async def test_kill_9_of_serve_leaves_calls_up_and_the_next_serve_counts_them(
    serve,  # noqa: F811
    tmp_path: Path,
) -> None:
    served: Served = await serve()
    await served.wait_log("Ready:")
    await two_rooms(served)
    pid = await pbx_pid(served)
    (tmp_path / "sipp").mkdir()
    sipp = Sipp(int(served.env["PBX_SIP_PORT"]), sipp_base(), tmp_path / "sipp")
    # Each call holds 25 s and then hangs up itself: it ends well only if the PBX kept it
    # up all along (a BYE from the PBX fails it, and so does no answer to its own BYE).
    calls = callers(sipp, ["4321#", "4321#", "5555#2468#"], hold_ms=25000)

    async def all_in() -> bool:
        return await in_room(served, "4321") == 2 and await in_room(served, "5555") == 1

    await eventually(all_in, timeout=30, what="three callers in two rooms")

    served.proc.kill()
    assert await served.stop() == -signal.SIGKILL
    await asyncio.sleep(1.0)  # the old PDEATHSIG child hung up every call within 7 ms
    assert await pbx_pid(served) == pid  # the same Asterisk, and every caller still in
    assert await in_room(served, "4321") == 2 and await in_room(served, "5555") == 1
    assert not any(call.done() for call in calls)

    ids = room_ids(served)
    started = time.monotonic()
    again: Served = await serve(env=served.env)
    expected = {ids["4321"]: 2, ids["5555"]: 1}
    await eventually(lambda: reconciled(again) == expected, timeout=10, what="exact counts")
    took = time.monotonic() - started
    assert took < RESTART_BUDGET, f"the restarted serve counted the calls after {took:.2f} s"
    assert f"Using the PBX already running from {served.env['PBX_RUN_DIR']} (pid {pid}, " \
        "started by serve)" in again.log  # fmt: skip
    assert "Started Asterisk" not in again.log

    results = await asyncio.gather(*calls)
    assert all(r.ok for r in results), [r.log[-2000:] for r in results if not r.ok]

    # A clean stop ends what a serve started, also when an earlier serve started it.
    assert await again.stop() == 0
    assert f"Stopping the PBX that serve started (pid {pid})" in again.log
    assert (await again.cli("pbx", "status", "--json"))[0] == 3
    assert "Traceback" not in served.log + again.log


async def slack_list(fake: FakeSlack, port: int) -> str:
    """``/conference list`` answered by serve: its own tracker's counts."""
    body = urlencode(slash_command("list", user=ALICE, channel=CHANNEL,
                                   response_url=fake.response_url()))  # fmt: skip
    headers = sign(body) | {"Content-Type": "application/x-www-form-urlencoded"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://127.0.0.1:{port}/slack/events", data=body, headers=headers) as r,
    ):
        assert r.status == 200
        return str((await r.json())["text"])


async def test_a_killed_asterisk_is_back_within_2_s_and_counts_are_right_again(
    serve,  # noqa: F811
    tmp_path: Path,
) -> None:
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
        await two_rooms(served)
        (tmp_path / "sipp").mkdir()
        sipp = Sipp(int(served.env["PBX_SIP_PORT"]), sipp_base(), tmp_path / "sipp")

        async def listed(sales: str, support: str) -> bool:
            text = await slack_list(fake, port)
            return (
                f"ID 4321, no PIN, {sales}" in text and f"ID 5555, PIN required, {support}" in text
            )

        doomed = callers(sipp, ["4321#", "5555#2468#"], hold_ms=60000)
        await eventually(lambda: listed("1 person", "1 person"), timeout=30, what="callers in")
        pid = await pbx_pid(served)

        killed = time.time()
        os.kill(pid, signal.SIGKILL)
        await served.wait_log("Asterisk restarted", timeout=10)

        def since_kill(text: str) -> list[str]:
            return [ln for ln in served.lines if text in ln and logged_at(ln) >= killed - 0.01]

        await eventually(lambda: bool(since_kill("AMI ready")), timeout=5, what="AMI ready")
        [back], ready = since_kill("Asterisk restarted"), since_kill("AMI ready")
        up = logged_at(back) - killed
        reconnect = logged_at(ready[0]) - logged_at(back)
        assert up < RESTART_BUDGET, f"Asterisk back {up:.2f} s after kill -9"
        assert reconnect < AMI_BUDGET, f"AMI ready {reconnect:.2f} s after Asterisk was back"
        new_pid = await pbx_pid(served)
        assert new_pid != pid
        assert_not_root(new_pid)

        # The calls died with that Asterisk (dead air for their callers); they call again.
        for call in doomed:
            call.cancel()
        await asyncio.gather(*doomed, return_exceptions=True)
        await eventually(lambda: listed("nobody", "nobody"), timeout=10, what="old calls gone")
        calls = callers(sipp, ["4321#", "4321#", "5555#2468#"], hold_ms=8000)
        await eventually(lambda: listed("2 people", "1 person"), timeout=30, what="rejoined")
        results = await asyncio.gather(*calls)
        assert all(r.ok for r in results), [r.log[-2000:] for r in results if not r.ok]
        assert await served.stop() == 0
        assert "Traceback" not in served.log
    finally:
        await fake.close()
