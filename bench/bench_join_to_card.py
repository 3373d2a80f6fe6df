"""ConfbridgeJoin to the dial-in card's ``chat.update`` arriving at (a local fake of) Slack.

    .venv/bin/python -m bench.bench_join_to_card [--calls 20] [--burst 10]

A real Asterisk, the bot's AMI stack and the real Slack front end (HTTP mode, live cards
with their one-update-per-second coalescing) against the fake Web API in this process.
Latency runs from Asterisk's own ConfbridgeJoin timestamp to the fake receiving the first
``chat.update`` that shows the new count. Two patterns: callers arriving 3 s apart, and a
burst of callers 300 ms apart (coalescing holds some updates back). Target: p95 < 1.2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench.bench_pbx import figures
from bench.cards import shown_count
from bot.config import Settings
from bot.repository import Repository
from bot.service import ConferenceService
from bot.wiring import Deps, build_telephony
from commands.app import start_slack
from commands.slack_settings import SlackSettings
from deploy.prefix import ensure_prefix
from deploy.process import AsteriskProcess
from telephony.tracker import RoomSnapshot, Update
from tests.fake_slack import Call, FakeSlack
from tests.pbx_fixtures import eventually, make_pbx


def wall(call: Call) -> float:
    """When the fake received the call, on the wall clock Asterisk's timestamps use."""
    return time.time() - (time.monotonic() - call.at)


async def main(args: argparse.Namespace) -> None:
    install = ensure_prefix()
    with tempfile.TemporaryDirectory(prefix="cb-bench-") as tmp:
        base = Path(tmp)
        pbx = make_pbx(install, base / "run", base / "logs")
        proc = AsteriskProcess(pbx.cfg, install)
        await proc.start()
        repo = await Repository.open(base / "bench.db")
        fake = await FakeSlack().start()
        service = ConferenceService(repo)
        await service.setup_server("800", "bench")
        room = await service.create_room(name="Bench", conference_id="4321", actor="bench")
        tel = build_telephony(service, host="127.0.0.1", port=pbx.cfg.ami_port,
                              username=pbx.creds.username, secret=pbx.creds.password)  # fmt: skip
        joins: list[tuple[int, float]] = []  # (count after the join, Asterisk's event time)
        last = 0

        async def on_update(update: Update) -> None:
            nonlocal last
            if isinstance(update, RoomSnapshot) and update.room_id == room.id:
                if update.count > last and update.event_time:
                    joins.append((update.count, update.event_time))
                last = update.count

        tel.tracker.add_listener(on_update)
        await tel.ami.start()
        await tel.ami.wait_ready(10)
        await eventually(lambda: tel.tracker.online and tel.sync.synced, what="sync")
        env = {"SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": "bench",
               "SLACK_API_URL": fake.api_url, "SLACK_HTTP_PORT": "0"}  # fmt: skip
        deps = Deps(Settings.from_environ({}, cwd=base), service, tel.ami, tel.tracker,
                    tel.actions)  # fmt: skip
        runner = await start_slack(deps, SlackSettings.from_environ(env))
        await service.remember_card(channel="CBENCH", ts="1700000000.000100", room_id=room.id,
                                    include_pin=False, posted_by="bench")  # fmt: skip
        try:

            async def run(pattern: str, calls: int, gap: float, hold_ms: int) -> None:
                joins.clear()
                start = len(fake.calls)
                tasks = []
                for i in range(calls):
                    tasks.append(asyncio.create_task(pbx.sipp.call(
                        "800", dtmf="4321#", hold_ms=hold_ms, tag=f"{pattern}{i}")))  # fmt: skip
                    await asyncio.sleep(gap)
                await asyncio.gather(*tasks)
                await eventually(lambda: tel.tracker.count(room.id) == 0, what="room empty")
                await asyncio.sleep(1.5)  # the last coalesced update
                updates = [c for c in fake.calls[start:] if c.method == "chat.update"]
                latencies = []
                for count, at in joins:
                    shown = next(
                        (
                            wall(c)
                            for c in updates
                            if wall(c) >= at and (shown_count(c) or 0) >= count
                        ),
                        None,
                    )
                    if shown is not None:
                        latencies.append((shown - at) * 1000)
                final = shown_count(updates[-1]) if updates else None
                print(figures(f"join to card update, {pattern}", latencies)
                      + f"  ({len(updates)} chat.update for {len(joins)} joins; final count "
                      f"shown {final})  target p95 < 1200 ms")  # fmt: skip

            await run("callers 3 s apart", args.calls, 3.0, 1500)
            await run(f"burst of {args.burst} callers 0.3 s apart", args.burst, 0.3, 4000)
        finally:
            await runner.stop()
            await tel.ami.close()
            await tel.sync.close()
            await fake.close()
            await repo.close()
            await proc.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="callers in the spaced run")
    parser.add_argument("--burst", type=int, default=10, help="callers in the burst")
    asyncio.run(main(parser.parse_args()))
