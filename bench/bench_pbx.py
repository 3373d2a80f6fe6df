"""PBX figures: boot time, DTMF-to-join, join-to-notification, and a 10 x 10 load run.

    .venv/bin/python -m bench.bench_pbx [--hold 30] [--boots 5] [--joins 10]

Starts its own Asterisk from the cached prefix on free loopback ports. Targets: boot under
1 s; last DTMF digit to ConfbridgeJoin under 50 ms; ConfbridgeJoin to the tracker's
notification under 10 ms; 100 concurrent callers with none dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from bot.repository import Repository
from bot.service import ConferenceService
from bot.wiring import build_telephony
from deploy.prefix import ensure_prefix
from deploy.process import AsteriskProcess
from telephony.tracker import RoomSnapshot, Update
from tests.pbx_fixtures import eventually, make_pbx
from tests.telephony.sipp import HOST, SCENARIOS, sipp_binary

_SENT = re.compile(
    r"-{10,} (\d{4}-\d\d-\d\d)\s+(\d\d:\d\d:\d\d\.\d+)\n\S+ message sent[^\n]*\n\n(\w+) "
)


def figures(name: str, values: list[float], unit: str = "ms") -> str:
    if not values:
        return f"{name}: no samples"
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
    return (
        f"{name}: n={len(values)} min={values[0]:.1f} median={statistics.median(values):.1f} "
        f"p95={p95:.1f} max={values[-1]:.1f} {unit}"
    )


def last_info_sent(trace: Path) -> float | None:
    """Wall-clock time sipp sent its last INFO (the last DTMF digit)."""
    last = None
    for day, clock, method in _SENT.findall(trace.read_text(errors="replace")):
        if method == "INFO":
            last = datetime.strptime(f"{day} {clock}", "%Y-%m-%d %H:%M:%S.%f").timestamp()
    return last


async def bench_boot(install, base: Path, runs: int) -> list[float]:
    times = []
    for i in range(runs):
        pbx = make_pbx(install, base / f"boot{i}", base / f"boot{i}-logs")
        proc = AsteriskProcess(pbx.cfg, install)
        t0 = time.monotonic()
        await proc.start()
        times.append((time.monotonic() - t0) * 1000)
        await proc.stop()
    return times


async def sipp_calls(pbx, digits: str, *, calls: int, hold_ms: int, tag: str, port: int,
                     trace: bool = False) -> tuple[int, Path]:  # fmt: skip
    logs = pbx.sipp.logs
    argv = [
        sipp_binary(), "-sf", str(SCENARIOS / "call.xml"), f"{HOST}:{pbx.cfg.sip_port}",
        "-s", "800", "-i", HOST, "-bind_local", "-p", str(port), "-mp", str(port + 2),
        "-m", str(calls), "-l", str(calls), "-r", "20", "-rp", "1000", "-nostdin",
        "-timeout", str(hold_ms // 1000 + 90), "-recv_timeout", "60000",
        "-set", "caller", "alice", "-set", "dtmf", digits, "-set", "mode", "hold",
        "-d", str(hold_ms), "-au", "alice", "-ap", "alice-password-1",
        "-auth_uri", f"sip:800@{HOST}:{pbx.cfg.sip_port}",
        "-trace_err", "-error_file", str(logs / f"{tag}.err"),
    ]  # fmt: skip
    trace_file = logs / f"{tag}.msg"
    if trace:
        argv += ["-trace_msg", "-message_file", str(trace_file)]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, cwd=logs
    )
    return await proc.wait(), trace_file


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def main(args: argparse.Namespace) -> None:
    install = ensure_prefix()
    print(f"Asterisk: {install.version}")
    with tempfile.TemporaryDirectory(prefix="cb-bench-") as tmp:
        base = Path(tmp)
        boots = await bench_boot(install, base, args.boots)
        print(figures("start to FullyBooted (cached prefix)", boots) + "  target < 1000 ms")

        pbx = make_pbx(install, base / "run", base / "logs")
        proc = AsteriskProcess(pbx.cfg, install)
        await proc.start()
        repo = await Repository.open(base / "bench.db")
        service = ConferenceService(repo)
        await service.setup_server("800", "bench")
        tel = build_telephony(service, host=HOST, port=pbx.cfg.ami_port,
                              username=pbx.creds.username, secret=pbx.creds.password)  # fmt: skip
        ami, tracker, sync = tel.ami, tel.tracker, tel.sync
        joins: list[tuple[float, float]] = []  # (Asterisk's event time, notified at)

        async def on_update(update: Update) -> None:
            if isinstance(update, RoomSnapshot) and update.event_time and update.count:
                joins.append((update.event_time, time.time()))

        tracker.add_listener(on_update)
        await ami.start()
        await ami.wait_ready(10)
        await eventually(lambda: sync.synced, what="sync")
        try:
            rooms = [
                await service.create_room(
                    name=f"Room {i}", conference_id=f"{700 + i}", pin=f"{5000 + i}", actor="bench"
                )  # fmt: skip
                for i in range(10)
            ]

            # Last DTMF digit -> ConfbridgeJoin, and ConfbridgeJoin -> notification.
            dtmf_to_join, join_to_note = [], []
            for n in range(args.joins):
                joins.clear()
                room = rooms[n % 10]
                rc, trace = await sipp_calls(
                    pbx, f"{room.conference_id}#{room.pin}#", calls=1, hold_ms=300,
                    tag=f"join{n}", port=47000 + n * 10, trace=True,
                )  # fmt: skip
                sent = last_info_sent(trace)
                if rc != 0 or sent is None or not joins:
                    print(f"  join run {n}: sipp rc={rc}, trace={'ok' if sent else 'missing'}")
                    continue
                event_time, notified = joins[0]
                dtmf_to_join.append((event_time - sent) * 1000)
                join_to_note.append((notified - event_time) * 1000)
            print(figures("last DTMF digit to ConfbridgeJoin", dtmf_to_join) + "  target < 50 ms")
            print(figures("ConfbridgeJoin to tracker notification", join_to_note)
                  + "  target < 10 ms")  # fmt: skip

            # Load: 10 rooms x 10 callers held for --hold seconds.
            assert proc.pid is not None
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            peak_rss, peak_in = rss_mb(proc.pid), 0
            load = [
                asyncio.create_task(
                    sipp_calls(
                        pbx,
                        f"{room.conference_id}#{room.pin}#",
                        calls=10,
                        hold_ms=args.hold * 1000,
                        tag=f"load{i}",
                        port=48000 + i * 20,
                    )
                )  # fmt: skip
                for i, room in enumerate(rooms)
            ]
            while not all(t.done() for t in load):
                await asyncio.sleep(0.5)
                peak_rss = max(peak_rss, rss_mb(proc.pid))
                peak_in = max(peak_in, sum(tracker.counts().values()))
            results = [t.result()[0] for t in load]
            elapsed = time.monotonic() - t0
            cpu = cpu_seconds(proc.pid) - cpu0
            failed_rooms = sum(1 for rc in results if rc != 0)
            print(
                f"load 10 rooms x 10 callers held {args.hold} s: peak in calls {peak_in}/100, "
                f"rooms with refused or dropped calls {failed_rooms}, "
                f"Asterisk CPU {cpu:.1f} s over {elapsed:.0f} s ({100 * cpu / elapsed:.0f}% of "
                f"one core), peak RSS {peak_rss:.0f} MB"
            )
        finally:
            await ami.close()
            await repo.close()
            await proc.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hold", type=int, default=30, help="load run hold time, seconds")
    parser.add_argument("--boots", type=int, default=5, help="boot time samples")
    parser.add_argument("--joins", type=int, default=10, help="join latency samples")
    asyncio.run(main(parser.parse_args()))
