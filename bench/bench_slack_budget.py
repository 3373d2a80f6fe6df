"""Slack's rate limits under load: 10 rooms x 5 live cards, 100 joins in 10 s.

    .venv/bin/python -m bench.bench_slack_budget [--rooms 10] [--cards 5] [--joins 100]
        [--seconds 10] [--homes 2] [--speed 1]

The real LiveCards (one token bucket per Web API method, coalescing, rooms taking turns)
against the fake Web API in this process; callers join as ConfbridgeJoin events fed to the
tracker, as the tests do (no Asterisk needed). Prints the calls per minute the fake received
(the most in any sliding 60 s window) against the budget, and how long until every card
shows its room's final count. Targets: never over the budget (chat.update 50 a minute,
views.publish 100); every card right within 60 s of the last join.

``--speed N`` plays the same scenario N times faster (the budget's window, the joins and the
interval between two updates of a message, all divided by N); figures are in real seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.cards import shown_count
from bot.config import Settings
from bot.repository import Repository
from bot.service import ConferenceService
from bot.wiring import Deps
from commands.app import web_client
from commands.budget import MARGIN, TIERS, WINDOW, SlackBudget
from commands.live_cards import MIN_INTERVAL, WATCH_INTERVAL, LiveCards
from commands.slack_settings import SlackSettings
from telephony.ami import AmiClient
from telephony.pbx_actions import PbxActions
from telephony.tracker import ParticipantTracker
from tests.commands.conftest import join
from tests.fake_slack import FakeSlack


def most_in_window(times: list[float], window: float = 60.0) -> int:
    return max((sum(1 for u in times if t <= u < t + window) for t in times), default=0)


async def main(args: argparse.Namespace) -> None:
    speed = args.speed
    with tempfile.TemporaryDirectory(prefix="cb-bench-") as tmp:
        base = Path(tmp)
        repo = await Repository.open(base / "bench.db")
        service = ConferenceService(repo, max_rooms=max(args.rooms, 10))
        await service.setup_server("800", "bench")
        tracker = ParticipantTracker()
        tracker.online = True
        ami = AmiClient(host="127.0.0.1", port=1, username="bench", secret="unused")  # never used
        deps = Deps(Settings.from_environ({}, cwd=base), service, ami, tracker,
                    PbxActions(ami, tracker))  # fmt: skip
        rooms = []
        for r in range(args.rooms):
            room = await service.create_room(name=f"Room {r}", conference_id=f"{500 + r}",
                                             actor="bench")  # fmt: skip
            rooms.append(room)
            for c in range(args.cards):
                await service.remember_card(channel=f"C{r}X{c}", ts=f"1700000000.{r:03d}{c:03d}",
                                            room_id=room.id, include_pin=False,
                                            posted_by="bench")  # fmt: skip
        cards = await service.cards()
        fake = await FakeSlack().start()
        env = {"SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_API_URL": fake.api_url}
        session = aiohttp.ClientSession()
        budget = SlackBudget(window=(WINDOW + MARGIN) / speed)
        live = LiveCards(deps, web_client(SlackSettings.from_environ(env), session),
                         budget=budget, min_interval=MIN_INTERVAL / speed,
                         watch_interval=WATCH_INTERVAL / speed)  # fmt: skip
        await live.start(refresh=False)
        for h in range(args.homes):
            await live.show_home(f"UHOME{h}")
        try:
            arrivals = [rooms[n % len(rooms)] for n in range(args.joins)]
            random.Random(1).shuffle(arrivals)
            final = {room.id: arrivals.count(room) for room in rooms}
            last_join: dict[int, float] = {}
            gap = args.seconds / args.joins / speed
            t0 = time.monotonic()
            for n, room in enumerate(arrivals):
                join(tracker, room.id, f"u{n}")
                last_join[room.id] = time.monotonic()
                await asyncio.sleep(max(t0 + (n + 1) * gap - time.monotonic(), 0))
            t_last = max(last_join.values())

            def right_at(card_channel: str, card_ts: str, room_id: int) -> float | None:
                for call in fake.calls_to("chat.update"):
                    same = (call.args["channel"], call.args["ts"]) == (card_channel, card_ts)
                    if same and call.at >= last_join[room_id]:
                        return call.at if shown_count(call) == final[room_id] else None
                return None

            deadline = time.monotonic() + 240 / speed
            done: list[float | None] = []
            while time.monotonic() < deadline:
                done = [right_at(c.channel, c.ts, c.room_id) for c in cards]
                if all(d is not None for d in done):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(2 / speed)  # anything still on its way
        finally:
            await live.stop()
            await session.close()
            await fake.close()
            await repo.close()

    def scaled(times: list[float]) -> list[float]:
        return [(t - t0) * speed for t in times]

    print(f"{args.rooms} rooms x {args.cards} live cards, {args.homes} Home tabs, {args.joins} "
          f"joins in {args.seconds:g} s (speed x{speed:g}); "
          f"{args.joins * args.cards} card changes")  # fmt: skip
    for method in ("chat.update", "views.publish"):
        times = scaled([c.at for c in fake.calls_to(method)])
        per_minute = [sum(1 for t in times if m * 60 <= t < (m + 1) * 60)
                      for m in range(int(max(times, default=0) // 60) + 1)]  # fmt: skip
        print(f"  {method:13} {len(times):4d} calls; most in any 60 s window: "
              f"{most_in_window(times):3d} (budget {TIERS[method]} a minute); "
              f"by minute from the first join: {per_minute}")  # fmt: skip
    if all(d is not None for d in done):
        end = max(d for d in done if d is not None)
        print(f"  every card right {(end - t_last) * speed:5.1f} s after the last join "
              f"({(end - t0) * speed:.1f} s after the first); target within 60 s")  # fmt: skip
    else:
        wrong = sum(d is None for d in done)
        print(f"  {wrong} of {len(cards)} cards still wrong after {240:g} s")
    first = []
    for room in rooms:
        room_calls = [c.at for c in fake.calls_to("chat.update")
                      if c.args["channel"].startswith(f"C{rooms.index(room)}X")]  # fmt: skip
        first_join = t0 + arrivals.index(room) * gap
        if room_calls:
            first.append((min(room_calls) - first_join) * speed)
    print(f"  first card update of each room after its first join: "
          f"max {max(first):.2f} s, median {sorted(first)[len(first) // 2]:.2f} s")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--cards", type=int, default=5, help="live cards per room")
    parser.add_argument("--joins", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0, help="the joins take this long")
    parser.add_argument("--homes", type=int, default=2, help="Home tabs open")
    parser.add_argument("--speed", type=float, default=1.0, help="play it this much faster")
    asyncio.run(main(parser.parse_args()))
