"""Recovery: how soon calls are counted again after Asterisk or the bot is killed.

    .venv/bin/python -m bench.bench_recovery [--runs 5] [--no-nudge] [--skip-serve]

Asterisk killed (``kill -9``) under ``serve``'s watchdog (``deploy.keeper``), wired to the AMI
client and tracker as ``serve`` wires them, with callers in two rooms before each kill:

* kill -> PBX up: the watchdog found it dead, waited for its last thread, started it again,
  and it reported ``FullyBooted``;
* PBX up -> AMI ready: the bot's AMI connection logged in and saw ``FullyBooted``;
* AMI ready -> counts exact: the tracker reconciled, and its counts equal Asterisk's
  ``ConfbridgeListRooms`` (zero: the calls died with that Asterisk; callers must dial again).

``--no-nudge`` leaves the AMI client to its own backoff (0.25 s doubling to 8 s), as before
the watchdog told it that the PBX was back.

Then ``serve`` itself killed (``kill -9`` of ``python -m bot serve``) with three callers in
two rooms: whether every call stays up, and how soon a new ``serve`` has exact counts (its
tracker's first reconcile, read from its log) after it was started.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import os
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

from bot.repository import Repository
from bot.service import ConferenceService
from bot.wiring import telephony_for
from deploy.daemon import stop_detached
from deploy.keeper import PbxKeeper
from deploy.prefix import ensure_prefix
from telephony.naming import bridge_name
from tests.pbx_fixtures import free_both, free_port, make_pbx, reachable_dir
from tests.ports import rtp_range, sipp_base
from tests.telephony.sipp import Sipp, SippResult


def figures(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: no samples"
    v = sorted(values)
    return f"{name}: n={len(v)} min={v[0]:.3f} median={statistics.median(v):.3f} max={v[-1]:.3f} s"


async def until(check: Callable[[], bool | Awaitable[bool]], timeout: float, what: str) -> float:
    """Poll ``check`` every 5 ms until true; return the monotonic time it was."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.005)


def reconciled(lines: list[tuple[float, str]]) -> tuple[float, dict[int, int]] | None:
    """When serve's tracker first reconciled (arrival of the log line), and its counts."""
    mark = "tracker reconciled: "
    for at, line in lines:
        if mark in line:
            text = line.split(mark, 1)[1]
            return at, ({} if text == "no active rooms" else dict(ast.literal_eval(text)))
    return None


def place(sipp: Sipp, keys: list[str], hold_ms: int) -> list[asyncio.Task[SippResult]]:
    return [asyncio.create_task(sipp.call("800", dtmf=k, hold_ms=hold_ms)) for k in keys]


async def hang_up(calls: list[asyncio.Task[SippResult]]) -> None:
    for call in calls:
        call.cancel()
    await asyncio.gather(*calls, return_exceptions=True)


async def bench_asterisk(runs: int, nudge: bool) -> None:
    install = ensure_prefix()
    base = Path(tempfile.mkdtemp(prefix="bench-recovery-"))
    pbx = make_pbx(install, base / "run", base / "sipp")
    repo = await Repository.open(base / "conference.db")
    service = ConferenceService(repo)
    await service.setup_server("800", "bench")
    sales = await service.create_room(name="Sales", conference_id="4321", actor="bench")
    support = await service.create_room(name="Support", conference_id="5555", actor="bench")
    keeper = PbxKeeper(pbx.cfg, find_install=lambda: install)
    await keeper.ensure()
    tel = telephony_for(pbx.cfg, service)
    loop = asyncio.get_running_loop()
    alive: list[float] = []
    ready: list[float] = []

    def seen_alive() -> None:
        alive.append(loop.time())
        if nudge:
            tel.ami.retry_now()

    async def on_ready() -> None:
        ready.append(loop.time())

    tel.ami.on_ready(on_ready)
    stop = asyncio.Event()
    watch = asyncio.create_task(keeper.watch(stop, seen_alive))
    up: list[float] = []
    connect: list[float] = []
    exact: list[float] = []

    async def counts_exact() -> bool:
        if not (tel.ami.connected and tel.tracker.online):
            return False
        rooms = await tel.ami.list_action({"Action": "ConfbridgeListRooms"})
        listed = {str(m["Conference"]): int(m["Parties"]) for m in rooms}
        return listed == {bridge_name(k): v for k, v in tel.tracker.counts().items()}

    try:
        await tel.ami.start()
        assert await tel.ami.wait_ready(20), "AMI did not become ready"
        how = "AMI told at once" if nudge else "AMI backoff only"
        print(f"Asterisk killed under the watchdog ({how})")

        def all_in() -> bool:
            return tel.tracker.count(sales.id) == 2 and tel.tracker.count(support.id) == 1

        def restarted(times: int) -> bool:
            return keeper.restarts == times

        def ready_since(moment: float) -> bool:
            return any(t > moment for t in ready)

        for run in range(1, runs + 1):
            calls = place(pbx.sipp, ["4321#", "4321#", "5555#"], hold_ms=60000)
            await until(all_in, 30, "callers in")
            pid = keeper.pid
            assert pid is not None
            killed = loop.time()
            os.kill(pid, signal.SIGKILL)
            await until(partial(restarted, run), 10, "the restart")
            t_up = min(t for t in alive if t > killed)
            await until(partial(ready_since, killed), 15, "AMI ready")
            t_ready = min(t for t in ready if t > killed)
            t_exact = await until(counts_exact, 10, "exact counts")
            up.append(t_up - killed)
            connect.append(t_ready - t_up)
            exact.append(t_exact - t_ready)
            print(f"  run {run}: PBX up {up[-1]:.3f} s after kill -9; AMI ready "
                  f"{connect[-1]:+.3f} s later; counts exact {exact[-1]:.3f} s after "
                  "that")  # fmt: skip
            await hang_up(calls)
    finally:
        stop.set()
        await watch
        await tel.ami.close()
        await tel.sync.close()
        stop_detached(pbx.cfg.run_dir)
        await repo.close()
        shutil.rmtree(base, ignore_errors=True)
    print(figures("kill -9 -> PBX up", up))
    print(figures("PBX up -> AMI ready", connect))
    print(figures("AMI ready -> counts exact", exact))
    total = [a + b + c for a, b, c in zip(up, connect, exact, strict=True)]
    print(figures("kill -9 -> counts exact", total))


class Serve:
    """``python -m bot serve`` in a subprocess; its log lines arrive with their arrival time."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.cwd = cwd
        self.lines: list[tuple[float, str]] = []

    async def start(self) -> float:
        started = time.monotonic()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "serve", cwd=self.cwd, env=self.env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self.reader = asyncio.create_task(self._read())
        return started

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.lines.append((time.monotonic(), raw.decode(errors="replace").rstrip()))

    def first(self, text: str) -> tuple[float, str] | None:
        return next(((t, line) for t, line in self.lines if text in line), None)

    async def cli(self, *argv: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", *argv, cwd=self.cwd, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        out, _ = await proc.communicate()
        return out.decode()

    async def end(self, sig: int) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        await self.proc.wait()
        await self.reader


def has_reconciled(serve: Serve) -> bool:
    return reconciled(serve.lines) is not None


async def bench_serve(runs: int) -> None:
    base = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    first, last = rtp_range(100)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PBX_", "CONFERENCE_", "SLACK_"))
    }
    env |= {
        "PBX_RUN_DIR": str(reachable_dir() / "pbx"),
        "PBX_SIP_PORT": str(free_both()),
        "PBX_AMI_PORT": str(free_port(socket.SOCK_STREAM)),
        "PBX_HTTP_PORT": str(free_port(socket.SOCK_STREAM)),
        "PBX_RTP_PORTS": f"{first}-{last}",
        "PBX_PHONES": "alice:alice-password-1",
    }  # fmt: skip
    (base / "sipp").mkdir()
    sipp = Sipp(int(env["PBX_SIP_PORT"]), sipp_base(), base / "sipp")
    serve = Serve(env, base)
    await serve.start()
    counted: list[float] = []
    survived = 0
    calls: list[asyncio.Task[SippResult]] = []
    try:
        await until(lambda: serve.first("Ready:") is not None, 60, "serve ready")
        await serve.cli("server", "setup")
        await serve.cli("rooms", "create", "--name", "Sales", "--id", "4321")
        await serve.cli("rooms", "create", "--name", "Support", "--id", "5555")
        print("serve killed with three callers in two rooms")
        for run in range(1, runs + 1):
            calls = place(sipp, ["4321#", "4321#", "5555#"], hold_ms=12000)
            await asyncio.sleep(6.0)  # greeting and keys; then they hold
            await serve.end(signal.SIGKILL)
            serve = Serve(env, base)
            started = await serve.start()
            await until(partial(has_reconciled, serve), 15, "a reconcile")
            hit = reconciled(serve.lines)
            assert hit is not None
            assert sorted(hit[1].values()) == [1, 2], f"counted {hit[1]}"
            counted.append(hit[0] - started)
            results = await asyncio.gather(*calls)
            ok = all(r.ok for r in results)
            survived += ok
            print(f"  run {run}: new serve counted 2 + 1 callers {counted[-1]:.3f} s after it "
                  f"was started; every call stayed up: {'yes' if ok else 'NO'}")  # fmt: skip
    finally:
        await hang_up(calls)
        await serve.end(signal.SIGTERM)
        stop_detached(Path(env["PBX_RUN_DIR"]))
        shutil.rmtree(base, ignore_errors=True)
    print(figures("new serve started -> counts exact", counted))
    print(f"runs where every call stayed up: {survived} of {runs}")


async def main(args: argparse.Namespace) -> None:
    await bench_asterisk(args.runs, nudge=not args.no_nudge)
    if not args.skip_serve:
        await bench_serve(args.runs)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="kills of each kind")
    parser.add_argument("--no-nudge", action="store_true", help="AMI backoff only")
    parser.add_argument("--skip-serve", action="store_true", help="only kill Asterisk")
    asyncio.run(main(parser.parse_args()))
