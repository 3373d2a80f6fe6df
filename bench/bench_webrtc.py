"""Browser join figures (issue 12): click to ConfbridgeJoin, and what a browser participant
costs Asterisk compared with a phone.

    .venv/bin/python -m bench.bench_webrtc [--joins 20] [--cpu-seconds 10]

Root only: it re-runs itself in a loopback-only network namespace with a veth pair, as the
browser tests do (tests/web/harness.py says why), and starts the same parts as
tests/web/scenario.py: the bundled Asterisk, the bot's telephony stack, the Bolt app against
the fake Slack, the bot's web server, Debian's Chromium with fake media (Playwright).

Latency, over ``--joins`` joins into a room where a sipp caller already talks: ``slack
click``: the signed "Join from browser" click is posted to the app -> Asterisk's
ConfbridgeJoin ``Timestamp`` for the browser's channel (issuing the link: AstDB writes,
SQLite, the ephemeral reply; opening the page: redeeming the token, loading JsSIP; the
automated click on Join; then WebSocket, digest, ICE, DTLS, the dialplan, ConfBridge). ``page
click``: the page's Join click -> ConfbridgeJoin (the part a person waits for after clicking
Join). Each join leaves (BYE) before the next.

CPU: Asterisk's CPU time (``/proc/<pid>/stat`` utime+stime) over ``--cpu-seconds`` windows
of wall time: one sipp caller plus one browser (the last join stays; Opus and DTLS-SRTP, what
the page negotiates); the browser gone (the sipp caller alone); plus a second sipp caller
(G.711, plain RTP). The browser's and the phone's costs are the differences from the sipp
caller alone. Chromium's own CPU (all its processes) is shown for the browser window.

Measured (2-vCPU VM, 20 joins, ``--cpu-seconds 30``): slack click -> ConfbridgeJoin p50
920 ms, p95 1045 ms; page click -> ConfbridgeJoin p50 535 ms, p95 601 ms. Asterisk: the sipp
caller alone 1.6 % of a core; a browser (Opus, DTLS-SRTP) adds 2.2 points, a second sipp
caller (G.711) 0.4: a browser costs Asterisk about 6 phones. Chromium: 10.7 % of a core for
its one call. (With 10 s windows the CPU figures wander by about a point between runs.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def chromium_pids() -> list[int]:
    """Our Chromium's processes (browser, renderers, GPU, utility): this process's
    descendants named chrom* (Playwright's driver starts the browser)."""
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            head, _, tail = stat.rpartition(")")
            names[int(entry.name)] = head.partition("(")[2]
            children.setdefault(int(tail.split()[1]), []).append(int(entry.name))
    found, todo = [], [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            todo.append(child)
            if "chrom" in names.get(child, ""):
                found.append(child)
    return found


def total_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except OSError:
            pass
    return total


async def window(asterisk: int, seconds: float, *, browser: bool = False) -> dict[str, float]:
    """Asterisk's CPU, % of one core, over ``seconds`` of wall time; with ``browser``,
    Chromium's too (its processes at the start: one in a call stays for the window)."""
    chrome = chromium_pids() if browser else []
    a0, c0, t0 = cpu_seconds(asterisk), total_cpu(chrome), time.monotonic()
    await asyncio.sleep(seconds)  # the measurement window itself
    a1, c1, t1 = cpu_seconds(asterisk), total_cpu(chrome), time.monotonic()
    result = {"asterisk_pct": round(100 * (a1 - a0) / (t1 - t0), 2)}
    if browser:
        result["chromium_pct"] = round(100 * (c1 - c0) / (t1 - t0), 2)
    return result


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50": round(statistics.median(values)),
            "p95": round(quantile(values, 0.95)), "max": round(max(values))}  # fmt: skip


async def inside(report_path: Path, joins: int, cpu_window: float) -> None:
    from tests.commands.conftest import ALICE
    from tests.web.harness import Report, chromium
    from tests.web.rtp_listener import listener
    from tests.web.scenario import PHONE_ROOM, Checks, join_button, until, world

    report = Report(report_path)
    out = Path(tempfile.mkdtemp(prefix="bench-webrtc-"))
    async with world(out) as w, chromium() as browser:
        w.browser = browser
        report.figure("chromium", browser.version)
        checks = Checks(w, report)
        name, cid = PHONE_ROOM
        room = await w.deps.service.create_room(name=name, conference_id=cid, actor="bench")
        phone = await listener(w.pbx, out, f"{cid}#")
        try:
            await until(lambda: w.tel.tracker.count(room.id) == 1, 20, "the sipp caller")
            button = join_button(await checks.card(name, ALICE))
            assert button is not None, "no Join from browser button on the card"
            from_slack: list[float] = []
            from_page: list[float] = []
            for n in range(joins):
                t_slack = time.time()
                link, _ = await checks.link_from(button, ALICE)
                page = await checks.open_page(link)
                t_page = time.time()
                joined = await checks.join(page, n)
                at = float(joined["Timestamp"])
                from_slack.append((at - t_slack) * 1000)
                from_page.append((at - t_page) * 1000)
                await checks.in_call(page)
                if n < joins - 1:
                    await page.click("#leave")
                    channel = joined["Channel"]
                    await until(lambda: w.event_for("ConfbridgeLeave", channel), 10,  # noqa: B023
                                "the browser's leave")  # fmt: skip
                    await page.context.close()
            report.figure("slack_click_to_confbridgejoin_ms", summary(from_slack))
            report.figure("page_click_to_confbridgejoin_ms", summary(from_page))
            # CPU: the last browser is still in the call.
            codec = (await checks.stats(page)).get("codec")
            asterisk = w.pbx.pid
            assert asterisk is not None
            cpu: dict[str, Any] = {"browser_codec": codec}
            cpu["sipp_plus_browser"] = await window(asterisk, cpu_window, browser=True)
            await page.click("#leave")
            await until(lambda: w.event_for("ConfbridgeLeave", joined["Channel"]), 10, "leave")
            await page.context.close()
            cpu["sipp_alone"] = await window(asterisk, cpu_window)
            hold = int((cpu_window + 30) * 1000)
            second = asyncio.create_task(
                w.pbx.sipp.call("800", dtmf=f"{cid}#", hold_ms=hold, tag="second"))  # fmt: skip
            try:
                await until(lambda: w.tel.tracker.count(room.id) == 2, 20, "the second caller")
                cpu["sipp_plus_sipp"] = await window(asterisk, cpu_window)
            finally:
                second.cancel()
                await asyncio.gather(second, return_exceptions=True)
            base = cpu["sipp_alone"]["asterisk_pct"]
            cpu["browser_costs_pct"] = round(cpu["sipp_plus_browser"]["asterisk_pct"] - base, 2)
            cpu["sipp_caller_costs_pct"] = round(cpu["sipp_plus_sipp"]["asterisk_pct"] - base, 2)
            cpu["chromium_per_call_pct"] = cpu["sipp_plus_browser"]["chromium_pct"]
            report.figure("cpu", cpu)
        finally:
            await phone.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joins", type=int, default=20)
    parser.add_argument("--cpu-seconds", type=float, default=10.0)
    if os.environ.get("CONFERENCE_BOT_NETNS"):  # the child, in the namespace
        report = Path(sys.argv[1])
        args = parser.parse_args(sys.argv[2:])
        asyncio.run(inside(report, args.joins, args.cpu_seconds))
        return 0
    args = parser.parse_args()
    from tests.web.harness import missing, run_in_netns

    problem = missing()
    if problem:
        print(f"bench_webrtc: {problem}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        result = run_in_netns(
            "bench.bench_webrtc", Path(tmp) / "report.json",
            "--joins", str(args.joins), "--cpu-seconds", str(args.cpu_seconds),
            timeout=120 + args.joins * 5 + args.cpu_seconds * 4,
        )  # fmt: skip
    if result.get("error") or result["harness"]["returncode"] != 0:
        print(result["harness"]["output"], file=sys.stderr)
    print(json.dumps(result.get("figures", {}), indent=1))
    return 0 if result["harness"]["returncode"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
