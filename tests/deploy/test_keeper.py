"""deploy.keeper, the PBX `serve` keeps running, with the bundled Asterisk: adopt or start one
in a session of its own, restart it when it dies (not when it was stopped on purpose), and at
a clean stop end only what a serve started."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.daemon import stop_detached, wait_gone
from deploy.install import AsteriskInstall
from deploy.keeper import PbxKeeper
from deploy.pidfile import STARTED_BY_CLI, STARTED_BY_SERVE, started_by
from tests.pbx_fixtures import Pbx, assert_not_root, make_pbx


@pytest.fixture
def pbx(install: AsteriskInstall, tmp_path: Path) -> Iterator[Pbx]:
    made = make_pbx(install, tmp_path / "run", tmp_path / "sipp")
    yield made
    made.stop()


def keeper_of(pbx: Pbx) -> PbxKeeper:
    return PbxKeeper(pbx.cfg, find_install=lambda: pbx.install)


async def test_a_pbx_serve_started_is_its_own_and_survives_serve(pbx: Pbx) -> None:
    keeper = keeper_of(pbx)
    assert await keeper.ensure()  # none ran: started
    pid = pbx.pid
    assert pid is not None and keeper.pid == pid
    assert_not_root(pid)
    assert started_by(pbx.cfg.run_dir) == STARTED_BY_SERVE
    # A session of its own: neither Ctrl-C on serve's terminal nor a signal to serve's
    # process group reaches it.
    assert os.getsid(pid) == os.getpgid(pid) == pid != os.getsid(0)

    # The next serve (after a crash) adopts it, and stops it at its own clean stop.
    after_crash = keeper_of(pbx)
    assert not await after_crash.ensure()
    assert (after_crash.pid, after_crash.started_by) == (pid, STARTED_BY_SERVE)
    await after_crash.close()
    assert pbx.pid is None


async def test_a_pbx_started_by_pbx_start_is_left_running(pbx: Pbx) -> None:
    pid = pbx.start()  # as `conference-bot pbx start` does
    keeper = keeper_of(pbx)
    assert not await keeper.ensure()
    assert (keeper.pid, keeper.started_by) == (pid, STARTED_BY_CLI)
    await keeper.close()
    assert pbx.pid == pid


async def test_a_dead_pbx_is_restarted_and_a_failed_restart_tried_again(
    pbx: Pbx, caplog: pytest.LogCaptureFixture
) -> None:
    pid = pbx.start()
    keeper = keeper_of(pbx)
    await keeper.ensure()
    os.kill(pid, signal.SIGKILL)  # its PID file stays behind: it died
    assert await asyncio.to_thread(wait_gone, pid)
    caplog.set_level(logging.INFO, logger="deploy.keeper")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind((pbx.cfg.bind_address, pbx.cfg.sip_port))
        await keeper.check()
    assert "died; starting it again" in caplog.text and "already in use" in caplog.text
    assert keeper.restarts == 0 and pbx.pid is None
    await keeper.check()  # the next attempt waits a second
    assert keeper.restarts == 0
    await asyncio.sleep(1.0)
    alive: list[int] = []
    await keeper.check(on_alive=lambda: alive.append(1))
    assert keeper.restarts == 1 and alive == [1]
    new = pbx.pid
    assert new is not None and new == keeper.pid != pid
    assert_not_root(new)
    assert started_by(pbx.cfg.run_dir) == STARTED_BY_CLI  # restarted as what it was


async def test_a_pbx_stopped_on_purpose_stays_stopped_until_one_is_started(
    pbx: Pbx, caplog: pytest.LogCaptureFixture
) -> None:
    pbx.start()
    keeper = keeper_of(pbx)
    await keeper.ensure()
    caplog.set_level(logging.INFO, logger="deploy.keeper")
    # `conference-bot pbx stop` removes the PID file before Asterisk has exited: a watch
    # that looks meanwhile must not take the stop for a crash.
    stopping = asyncio.create_task(asyncio.to_thread(stop_detached, pbx.cfg.run_dir))
    while not stopping.done():
        await keeper.check()
        await asyncio.sleep(0.005)
    assert await stopping
    for _ in range(3):
        await keeper.check()
    assert keeper.restarts == 0 and pbx.pid is None and keeper.pid is None
    assert "was stopped (conference-bot pbx stop)" in caplog.text
    assert "died" not in caplog.text

    pid = pbx.start()
    alive: list[int] = []
    await keeper.check(on_alive=lambda: alive.append(1))
    assert keeper.pid == pid and alive == [1] and keeper.restarts == 0


async def test_watch_ends_when_told(pbx: Pbx) -> None:
    keeper = keeper_of(pbx)
    await keeper.ensure()
    stop = asyncio.Event()
    watch = asyncio.create_task(keeper.watch(stop))
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.wait_for(watch, 1.0)
    assert pbx.pid == keeper.pid  # watching never stops the PBX
