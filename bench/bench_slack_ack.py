"""Slash-command acknowledgement latency: 50 concurrent signed ``/conference`` requests.

The real Bolt app runs in HTTP mode (``start_slack``) in this process, with a real SQLite
database. Slack's side runs elsewhere, as it would: the fake Web API (which the work after
each ack calls) in one process, and the requests from several sender processes that fire
together each round. Each request is timed from send to the HTTP answer, the ack Slack
waits for. Target: p99 under 50 ms.

    .venv/bin/python -m bench.bench_slack_ack [--concurrency 50] [--senders 5] [--rounds 20]
                                              [--text list]
"""

from __future__ import annotations

import argparse
import asyncio
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

from bot.config import Settings
from bot.repository import Repository
from bot.service import ConferenceService
from bot.slack_app import EVENTS_PATH, SlackSettings, start_slack
from bot.wiring import Deps
from telephony.actions import PbxActions
from telephony.ami import AmiClient
from telephony.tracker import ParticipantTracker
from tests.commands.conftest import SECRET, sign, slash_command
from tests.fake_slack import FakeSlack


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


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
    conn: Connection, barrier: Barrier, url: str, slack_url: str, n: int, rounds: int, text: str
) -> None:
    """A process sending ``n`` requests at once per round; sends back the latencies."""

    async def one(session: aiohttp.ClientSession, body: bytes, headers: dict[str, str]) -> float:
        start = time.perf_counter()
        async with session.post(url, data=body, headers=headers) as resp:
            await resp.read()
            assert resp.status == 200, resp.status
        return (time.perf_counter() - start) * 1000

    def request() -> tuple[bytes, dict[str, str]]:
        respond_to = f"{slack_url}respond/bench"
        form = slash_command(text, user="UBENCH", channel="CBENCH", response_url=respond_to)
        body = urlencode(form)
        return body.encode(), {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}

    async def run() -> list[float]:
        samples: list[float] = []
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=n)) as session:
            await asyncio.gather(*(one(session, *request()) for _ in range(n)))  # warm-up
            for _ in range(rounds):
                batch = [request() for _ in range(n)]  # signed before the clock starts
                await asyncio.to_thread(barrier.wait)
                samples += await asyncio.gather(*(one(session, *r) for r in batch))
                await asyncio.sleep(0.2)  # let the work after the acks finish
        return samples

    conn.send(asyncio.run(run()))


# -- the bot ----------------------------------------------------------------------------------


async def bot(slack_url: str, run_senders: Callable[[str], list[float]]) -> list[float]:
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
        try:
            url = f"http://127.0.0.1:{runner.http_port}{EVENTS_PATH}"
            return await asyncio.to_thread(run_senders, url)
        finally:
            await runner.stop()
            await repo.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--senders", type=int, default=5, help="processes sharing the load")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--text", default="list", help="the /conference text to send")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    spawn = multiprocessing.get_context("spawn")

    ours, theirs = spawn.Pipe()
    slack = spawn.Process(target=web_api, args=(theirs,))
    slack.start()
    slack_url: str = ours.recv()

    def run_senders(url: str) -> list[float]:
        barrier = spawn.Barrier(args.senders)
        shares = [args.concurrency // args.senders] * args.senders
        shares[0] += args.concurrency - sum(shares)
        pipes, procs = [], []
        for share in shares:
            mine, yours = spawn.Pipe()
            proc = spawn.Process(
                target=sender,
                args=(yours, barrier, url, slack_url, share, args.rounds, args.text),
            )
            proc.start()
            pipes.append(mine)
            procs.append(proc)
        samples: list[float] = []
        for pipe in pipes:
            samples += pipe.recv()
        for proc in procs:
            proc.join()
        return samples

    try:
        samples = asyncio.run(bot(slack_url, run_senders))
    finally:
        ours.send("stop")
        slack.join()
    print(
        f"/conference {args.text}: {len(samples)} requests, {args.concurrency} concurrent "
        f"from {args.senders} processes: p50 {statistics.median(samples):.1f} ms, "
        f"p99 {percentile(samples, 99):.1f} ms, max {max(samples):.1f} ms "
        "(target p99 < 50 ms)"
    )


if __name__ == "__main__":
    main()
