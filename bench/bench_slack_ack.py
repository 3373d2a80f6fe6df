"""Slash-command acknowledgement: this app beside a bare Bolt app, on the same machine.

Both apps run in this process behind the same transport (``commands.transport.http_app``:
signed HTTP, ``process_before_response``): the real one through ``start_slack`` with a real
SQLite database, the bare one an ``AsyncApp`` whose only listener calls ``ack()``. Slack's
side runs elsewhere, as it would: the fake Web API (which the work after each ack calls) in
one process, and sender processes that fire ``--concurrency`` signed ``/conference`` requests
together each round. Rounds alternate between the two apps (ABBA), so both see the same
machine at the same moments.

Latency: from send to the HTTP answer, the ack Slack waits for. CPU: this process's CPU time
(every thread) from the start of a round until the work after its acks has settled, divided
by the round's requests. Garbage is collected between rounds, outside both measures.
Targets: p99 at most 1.2x the bare app's for every text; for ``list``, CPU per request at
most 2x. The figures move by 10 to 20 % from run to run on a small machine: judge a change
by several runs, or more ``--rounds``.

    .venv/bin/python -m bench.bench_slack_ack [--concurrency 50] [--senders 5] [--rounds 30]
                                              [--text list --text help]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.repository import Repository
from bot.service import ConferenceService
from bot.wiring import Deps
from commands.app import listen_http, start_slack
from commands.slack_settings import EVENTS_PATH, SlackSettings
from commands.transport import RefusalLog
from telephony.ami import AmiClient
from telephony.pbx_actions import PbxActions
from telephony.tracker import ParticipantTracker
from tests.commands.conftest import SECRET, sign, slash_command
from tests.fake_slack import FakeSlack

APP, BARE = "this app", "bare Bolt"
Key = tuple[str, str]  # (text, app)
SETTLE = 0.2  # seconds after a round's last answer for the work after its acks
P99_TARGET = 1.2
CPU_TARGET = {"list": 2.0}


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


def schedule(texts: list[str], rounds: int) -> list[tuple[str, str, bool]]:
    """(text, app, measured) for every round, in the order all processes run them: per
    text a warm-up round of each app, then rounds alternating ABBA."""
    order: list[tuple[str, str, bool]] = []
    for text in texts:
        order += [(text, APP, False), (text, BARE, False)]
        for n in range(rounds):
            pair = [(text, APP, True), (text, BARE, True)]
            order += pair if n % 2 == 0 else pair[::-1]
    return order


# -- Slack's side -----------------------------------------------------------------------------


def web_api(conn: Connection) -> None:
    """A process serving the fake Web API and response URLs until told to stop."""

    async def run() -> None:
        fake = await FakeSlack().start()
        conn.send(fake.url)
        await asyncio.to_thread(conn.recv)
        await fake.close()

    asyncio.run(run())


def sender(
    conn: Connection,
    barrier: Barrier,
    urls: dict[str, str],
    slack_url: str,
    n: int,
    order: list[tuple[str, str, bool]],
) -> None:
    """A process sending ``n`` requests at once per round; sends back the latencies."""

    async def one(
        session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
    ) -> float:
        start = time.perf_counter()
        async with session.post(url, data=body, headers=headers) as resp:
            await resp.read()
            assert resp.status == 200, resp.status
        return (time.perf_counter() - start) * 1000

    def request(text: str) -> tuple[bytes, dict[str, str]]:
        respond_to = f"{slack_url}respond/bench"
        form = slash_command(text, user="UBENCH", channel="CBENCH", response_url=respond_to)
        body = urlencode(form)
        return body.encode(), {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}

    async def run() -> dict[Key, list[float]]:
        samples: dict[Key, list[float]] = {}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=n)) as session:
            for text, app, measured in order:
                url = urls[app]
                batch = [request(text) for _ in range(n)]  # signed before the clock starts
                await asyncio.to_thread(barrier.wait)
                took = await asyncio.gather(*(one(session, url, *r) for r in batch))
                await asyncio.sleep(SETTLE)
                await asyncio.to_thread(barrier.wait)
                if measured:
                    samples.setdefault((text, app), []).extend(took)
        return samples

    conn.send(asyncio.run(run()))


# -- the two apps -----------------------------------------------------------------------------


def bare_app(api_url: str) -> AsyncApp:
    """What Bolt costs on its own: one listener that only acknowledges."""
    app = AsyncApp(
        client=AsyncWebClient(token="xoxb-bench", base_url=api_url),
        signing_secret=SECRET,
        process_before_response=True,
        logger=logging.getLogger("slack_bolt"),
    )

    async def conference(ack: AsyncAck) -> None:
        await ack()

    app.command("/conference")(conference)
    return app


async def bot(
    slack_url: str,
    barrier: Barrier,
    order: list[tuple[str, str, bool]],
    run_senders: Callable[[dict[str, str]], dict[Key, list[float]]],
) -> tuple[dict[Key, list[float]], dict[Key, float]]:
    """Serve both apps and count this process's CPU seconds in each measured round."""
    cpu: dict[Key, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        repo = await Repository.open(Path(tmp) / "conference.db")
        service = ConferenceService(repo)
        await service.setup_server("800", "bench")
        for n in range(5):
            await service.create_room(name=f"Room {n}", conference_id=f"{4000 + n}", actor="bench")
        tracker = ParticipantTracker()
        ami = AmiClient(host="127.0.0.1", port=1, username="bench", secret="unused")
        deps = Deps(
            Settings.from_environ({}, cwd=Path(tmp)),
            service,
            ami,
            tracker,
            PbxActions(ami, tracker),
        )
        env = {
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack_url + "api/",
            "SLACK_HTTP_PORT": "0",
        }
        runner = await start_slack(deps, SlackSettings.from_environ(env))
        # The same endpoint and server settings as start_slack's HTTP mode.
        bare = await listen_http(bare_app(slack_url + "api/"), SECRET, "127.0.0.1", 0, RefusalLog())
        bare_port = next(int(a[1]) for a in bare.addresses if isinstance(a, tuple))
        try:
            urls = {
                APP: f"http://127.0.0.1:{runner.http_port}{EVENTS_PATH}",
                BARE: f"http://127.0.0.1:{bare_port}{EVENTS_PATH}",
            }
            senders = asyncio.create_task(asyncio.to_thread(run_senders, urls))
            for text, app, counted in order:
                # A full collection takes some 40 ms here and comes every few thousand
                # requests: start each round with a collected heap, so that it lands in
                # neither app's rounds by chance (timeit turns the collector off instead).
                gc.collect()
                start = time.process_time()  # idle until the round starts
                await asyncio.to_thread(barrier.wait)
                await asyncio.to_thread(barrier.wait)  # its answers are in and settled
                if counted:
                    spent = time.process_time() - start
                    cpu[(text, app)] = cpu.get((text, app), 0.0) + spent
            return await senders, cpu
        finally:
            await bare.cleanup()
            await runner.stop()
            await repo.close()


def report(
    text: str,
    samples: dict[Key, list[float]],
    cpu_seconds: dict[Key, float],
    args: argparse.Namespace,
) -> None:
    rows: dict[str, tuple[float, float, float, float]] = {}
    for app in (APP, BARE):
        took = samples[(text, app)]
        cpu = cpu_seconds[(text, app)] * 1000 / len(took)
        rows[app] = (statistics.median(took), percentile(took, 99), max(took), cpu)
    print(
        f"/conference {text}: {len(samples[(text, APP)])} requests an app, {args.concurrency} "
        f"concurrent from {args.senders} processes, rounds alternating"
    )
    print(f"  {'':10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'CPU ms/request':>15}")
    for app, (p50, p99, top, cpu) in rows.items():
        print(f"  {app:10} {p50:8.1f} {p99:8.1f} {top:8.1f} {cpu:15.2f}")
    ours, bare = rows[APP], rows[BARE]
    p50, p99, cpu = ours[0] / bare[0], ours[1] / bare[1], ours[3] / bare[3]
    targets = f"p99 <= {P99_TARGET}x" + (
        f", CPU <= {CPU_TARGET[text]}x" if text in CPU_TARGET else ""
    )
    print(f"  {'ratio':10} {p50:7.2f}x {p99:7.2f}x {'':8} {cpu:14.2f}x   (targets: {targets})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--senders", type=int, default=5, help="processes sharing the load")
    parser.add_argument("--rounds", type=int, default=30, help="measured rounds an app a text")
    parser.add_argument(
        "--text", action="append", help="a /conference text to send (default: list, help)"
    )
    args = parser.parse_args()
    texts: list[str] = args.text or ["list", "help"]
    logging.basicConfig(level=logging.CRITICAL)
    spawn = multiprocessing.get_context("spawn")
    order = schedule(texts, args.rounds)

    ours, theirs = spawn.Pipe()
    slack = spawn.Process(target=web_api, args=(theirs,))
    slack.start()
    slack_url: str = ours.recv()
    barrier = spawn.Barrier(args.senders + 1)  # the senders and the bot

    def run_senders(urls: dict[str, str]) -> dict[Key, list[float]]:
        shares = [args.concurrency // args.senders] * args.senders
        shares[0] += args.concurrency - sum(shares)
        pipes, procs = [], []
        for share in shares:
            mine, yours = spawn.Pipe()
            proc = spawn.Process(
                target=sender, args=(yours, barrier, urls, slack_url, share, order)
            )
            proc.start()
            pipes.append(mine)
            procs.append(proc)
        samples: dict[Key, list[float]] = {}
        for pipe in pipes:
            for key, took in pipe.recv().items():
                samples.setdefault(key, []).extend(took)
        for proc in procs:
            proc.join()
        return samples

    try:
        samples, cpu = asyncio.run(bot(slack_url, barrier, order, run_senders))
    finally:
        ours.send("stop")
        slack.join()
    for text in texts:
        report(text, samples, cpu, args)


if __name__ == "__main__":
    main()
