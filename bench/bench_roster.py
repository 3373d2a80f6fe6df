"""Roster buttons against a real Asterisk: a mute/unmute click in an open roster to Asterisk's
ConfbridgeMute/Unmute event, and that event to the roster's ``views.update`` at (a local fake
of) Slack.

    .venv/bin/python -m bench.bench_roster [--rooms 10] [--callers 10] [--clicks 40] [--quick]

A real Asterisk on free loopback ports, the bot's telephony stack and the real Slack front
end (HTTP mode, the product's LiveCards with its default one-update-a-second coalescing and
Slack's rate budget) against the fake Web API in this process. ``--rooms`` rooms fill with
``--callers`` sipp callers each (phones alice and bob and trunk callers, taking turns), each
room has a dial-in card, and an admin opens every room's roster with ``/conference who``.
Then ``--clicks`` signed clicks on the roster's Mute/Unmute buttons of random callers, one
every ``--gap`` seconds, posted to the app's ``/slack/events`` as Slack posts them.

Latency 1 runs from sending the click to the Timestamp of Asterisk's ConfbridgeMute/Unmute
for that caller (``timestampevents``: the wall clock); latency 2 from that Timestamp to the
fake receiving the first ``views.update`` of that roster whose buttons show the caller's new
state. Targets: the roster shows a change within a second (issue 11); ``chat.update`` within
50 and ``views.update`` within 100 calls in any minute (Slack's tiers).

sipp's calls end after ``--hold`` seconds (at most 50: tests/telephony/sipp.py gives a sipp
60 s in all), so the clicks must fit in that time; clicks that would not are skipped and
counted. Everything (sipp, Asterisk, the servers, temp dirs) is stopped and removed on the
way out, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import random
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from panoramisk.message import Message

from bot.config import Settings
from bot.models import Room
from bot.repository import Repository
from bot.service import ConferenceService
from bot.wiring import Deps, build_telephony
from commands import ids
from commands.app import start_slack, web_client
from commands.live_cards import LiveCards
from commands.roster import RosterWatch
from commands.slack_settings import EVENTS_PATH, SlackSettings
from deploy.prefix import ensure_prefix
from deploy.process import AsteriskProcess
from tests.commands.conftest import ADMIN, HttpDriver, block_actions, environ
from tests.fake_slack import Call, FakeSlack
from tests.pbx_fixtures import TRUNK_IP, Pbx, eventually, make_pbx
from tests.ports import SIPP_CALLS, SIPP_SPAN, sipp_base
from tests.telephony.sipp import Sipp, SippResult

NUMBER = "+15550100200"  # the server's phone number, which trunk callers dial
FIRST_ID = 7100  # conference IDs 7100, 7101, ...
MAX_HOLD = 50  # seconds; sipp gives up after 60 s in all (tests/telephony/sipp.py)
MARGIN = 6.0  # seconds a click needs before the first caller hangs up
WAIT = 10.0  # seconds to wait for a click's event, then for its roster update
CARD_TIER, ROSTER_TIER = 50, 100  # chat.update, views.update calls a minute

# Wall clock = monotonic + this; the fake stamps its calls with time.monotonic().
OFFSET = time.time() - time.monotonic()


def wall(call: Call) -> float:
    """When the fake received ``call``, on the wall clock Asterisk's timestamps use."""
    return call.at + OFFSET


@dataclass
class Click:
    room: Room
    uid: str
    view_id: str
    mute: bool  # Mute (True) or Unmute clicked
    sent: float = 0.0  # wall clock, just before the request went out
    acked: float = 0.0  # the app's HTTP answer (its ack)
    event: float | None = None  # Asterisk's Timestamp of the ConfbridgeMute/Unmute
    shown: float | None = None  # the fake received the views.update showing it
    error: str | None = None


@dataclass
class Events:
    """ConfbridgeMute/Unmute events by caller Uniqueid: (muted, Asterisk's Timestamp)."""

    seen: dict[str, list[tuple[bool, float]]] = field(default_factory=lambda: defaultdict(list))

    def on(self, muted: bool) -> Callable[[Message], None]:
        def handler(msg: Message) -> None:
            uid, stamp = msg.get("Uniqueid"), msg.get("Timestamp")
            if uid and stamp:
                self.seen[str(uid)].append((muted, float(stamp)))

        return handler

    def first(self, uid: str, muted: bool, after: float) -> float | None:
        return next((t for m, t in self.seen.get(uid, []) if m is muted and t >= after), None)


class Rosters(LiveCards):
    """The product's LiveCards, telling the bench which rosters it follows."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.followed: set[str] = set()

    async def watch_roster(self, view_id: str, watch: RosterWatch) -> None:
        await super().watch_roster(view_id, watch)
        self.followed.add(view_id)


def as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        loaded = json.loads(value)
        return loaded if isinstance(loaded, dict) else {}
    return value if isinstance(value, dict) else {}


def shows_muted(call: Call, value: str) -> bool | None:
    """Whether a roster shows the caller whose buttons carry ``value`` as muted (its button
    reads Unmute); None if the caller is not on it."""
    for block in as_dict(call.args.get("view")).get("blocks", []):
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("value") == value:
                if element.get("action_id") == ids.ROSTER_UNMUTE:
                    return True
                if element.get("action_id") == ids.ROSTER_MUTE:
                    return False
    return None


def click_payload(view_id: str, action_id: str, value: str) -> dict[str, Any]:
    """A click on a button of the roster modal ``view_id``, as Slack sends it."""
    payload = block_actions(action_id, value, user=ADMIN, response_url=None)
    payload["container"] = {"type": "view", "view_id": view_id}
    payload["view"] = {"id": view_id, "type": "modal", "callback_id": ids.ROSTER_VIEW}
    return payload


def percentiles(name: str, values: list[float], missed: int, target: str = "") -> str:
    if not values:
        return f"{name}: no samples ({missed} missed)"
    values = sorted(values)

    def p(q: float) -> float:
        return values[min(len(values) - 1, math.ceil(q * len(values)) - 1)]

    return (f"{name}: n={len(values)} p50={p(0.5):.0f} p95={p(0.95):.0f} "
            f"max={values[-1]:.0f} ms ({missed} missed){target}")  # fmt: skip


def busiest_minute(times: list[float]) -> int:
    """The most calls in any 60 s window."""
    times, best, start = sorted(times), 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 60.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_sipp(pbx: Pbx, avoid: list[int]) -> Sipp:
    """A sipp launcher whose port block is free now and clear of the blocks in ``avoid``:
    tests running beside the bench draw their sipp ports from the same range."""
    for _ in range(200):
        base = sipp_base()
        if any(abs(base - other) < SIPP_SPAN for other in avoid):
            continue
        ports = [base + n * 10 + k for n in range(SIPP_CALLS) for k in (0, 4, 5, 6, 7)]
        if all(_udp_free(port) for port in ports):
            return Sipp(pbx.cfg.sip_port, base, pbx.sipp.logs)
    raise SystemExit("no free block of ports for sipp; try again")


async def place_caller(
    pbx: Pbx, sipp: list[Sipp], room: Room, n: int, hold_ms: int, tag: str
) -> SippResult:
    """Caller ``n`` of a room: phone alice, phone bob or a trunk caller, in turn. A caller
    whose ports another process took meanwhile calls again from a fresh block."""
    dtmf = f"{room.conference_id}#"
    for attempt in range(3):
        used = sipp[-1]
        if n % 3 == 2:
            caller = f"+1555{room.conference_id}{n:03d}"
            result = await used.call(NUMBER, dtmf=dtmf, caller=caller, password=None,
                                     local_ip=TRUNK_IP, hold_ms=hold_ms,
                                     tag=f"{tag}-{attempt}")  # fmt: skip
        else:
            phone = ("alice", "bob")[n % 3]
            result = await used.call("800", dtmf=dtmf, caller=phone,
                                     password=f"{phone}-password-1", hold_ms=hold_ms,
                                     tag=f"{tag}-{attempt}")  # fmt: skip
        if result.ok or "Address already in use" not in result.log:
            return result
        if sipp[-1] is used:
            sipp.append(free_sipp(pbx, [s.base_port for s in sipp]))
    return result


async def run(args: argparse.Namespace, stack: contextlib.AsyncExitStack, tmp: Path) -> None:
    install = ensure_prefix()
    pbx = make_pbx(install, tmp / "run", tmp / "logs")
    if not pbx.cfg.run_dir.is_relative_to(tmp):  # as root: a dir Asterisk's user can reach
        stack.callback(shutil.rmtree, pbx.cfg.run_dir.parent, ignore_errors=True)
    proc = AsteriskProcess(pbx.cfg, install)
    stack.push_async_callback(proc.stop)
    await proc.start()

    repo = await Repository.open(tmp / "bench.db")
    stack.push_async_callback(repo.close)
    service = ConferenceService(repo)
    tel = build_telephony(service, host="127.0.0.1", port=pbx.cfg.ami_port,
                          username=pbx.creds.username, secret=pbx.creds.password)  # fmt: skip
    stack.push_async_callback(tel.sync.close)
    stack.push_async_callback(tel.ami.close)
    events = Events()
    tel.ami.register_event("ConfbridgeMute", events.on(True))
    tel.ami.register_event("ConfbridgeUnmute", events.on(False))
    await tel.ami.start()
    if not await tel.ami.wait_ready(20):
        raise SystemExit("the bot could not log in to Asterisk's AMI")
    await eventually(lambda: tel.tracker.online and tel.sync.synced, what="first sync")

    await service.setup_server("800", "bench")
    await service.assign_number(NUMBER, "bench")
    rooms = []
    for i in range(args.rooms):
        cid = f"{FIRST_ID + i}"
        rooms.append(await service.create_room(name=f"Bench {i}", conference_id=cid, actor="bench"))
    for i, room in enumerate(rooms):  # a live dial-in card per room: chat.update on joins
        await service.remember_card(
            channel=f"CBENCH{i}", ts=f"1700000000.{i:06d}", room_id=room.id,
            include_pin=False, posted_by="bench",
        )  # fmt: skip
    await eventually(lambda: tel.sync.up_to_date, what="rooms written to the PBX")

    fake = await FakeSlack(admins={ADMIN}).start()
    stack.push_async_callback(fake.close)
    settings = SlackSettings.from_environ(environ(fake))
    session = aiohttp.ClientSession()
    stack.push_async_callback(session.close)
    deps = Deps(Settings.from_environ({}, cwd=tmp), service, tel.ami, tel.tracker, tel.actions)
    live = Rosters(deps, web_client(settings, session))  # the product's defaults
    runner = await start_slack(deps, settings, live=live)
    stack.push_async_callback(runner.stop)
    slack = HttpDriver(fake, f"http://127.0.0.1:{runner.http_port}{EVENTS_PATH}", session)

    # -- callers ------------------------------------------------------------------------
    total = args.rooms * args.callers
    hold = min(args.hold, MAX_HOLD)
    calls: list[asyncio.Task[SippResult]] = []
    sipps = [free_sipp(pbx, [])]

    async def kill_callers() -> None:  # their calls end when Asterisk stops
        for task in calls:
            task.cancel()
        await asyncio.gather(*calls, return_exceptions=True)

    stack.push_async_callback(kill_callers)  # before Asterisk stops (the stack unwinds)
    t0 = time.monotonic()
    for n in range(args.callers):
        for room in rooms:
            tag = f"r{room.conference_id}-c{n}"
            placed = place_caller(pbx, sipps, room, n, hold * 1000, tag)
            calls.append(asyncio.create_task(placed))
            await asyncio.sleep(0.05)  # a steady arrival, not 100 sipp starts at once

    def all_in() -> bool:
        ended = [t for t in calls if t.done()]
        if ended:
            result = ended[0].result()
            raise SystemExit(f"a caller ended before the run: rc={result.returncode}\n"
                             + result.log[-2000:])  # fmt: skip
        return bool(sum(tel.tracker.count(r.id) for r in rooms) == total)

    await eventually(all_in, timeout=40, what=f"{total} callers in their rooms")
    joined = time.monotonic() - t0
    await live.wait_idle()  # the cards show the counts
    print(f"{total} callers in {args.rooms} rooms after {joined:.1f} s "
          f"({len(fake.calls_to('chat.update'))} chat.update for the cards; sipp port blocks "
          f"taken meanwhile by others: {len(sipps) - 1})")  # fmt: skip

    # -- rosters ------------------------------------------------------------------------
    views: dict[int, str] = {}  # room id -> its roster's view id
    for room in rooms:
        before = len(fake.calls_to("views.open"))
        reply = await slack.command(f"who {room.conference_id}", user=ADMIN)
        if reply.status != 200:
            raise SystemExit(f"/conference who answered HTTP {reply.status}: {reply.body}")
        opened = await fake.wait_for("views.open", count=before + 1, timeout=10)
        view_id = f"V{before + 1:06d}"  # the fake numbers the views it opens
        if json.loads(as_dict(opened.args["view"])["private_metadata"])["room"] != room.id:
            raise SystemExit(f"views.open #{before + 1} is not the roster of {room.name}")
        views[room.id] = view_id
    await eventually(lambda: set(views.values()) <= live.followed, what="rosters followed")
    await live.wait_idle()

    # -- clicks -------------------------------------------------------------------------
    rng = random.Random(args.seed)
    busy: set[str] = set()  # callers with a click in flight
    done: list[Click] = []
    skipped = 0
    clicks_from = time.time()

    async def click(c: Click) -> None:
        value = f"{c.room.id}:{c.uid}"
        action = ids.ROSTER_MUTE if c.mute else ids.ROSTER_UNMUTE
        payload = click_payload(c.view_id, action, value)
        try:
            c.sent = time.time()
            reply = await slack.interact(payload)
            c.acked = time.time()
            if reply.status != 200:
                c.error = f"HTTP {reply.status}"
                return
            try:
                await eventually(lambda: events.first(c.uid, c.mute, c.sent) is not None,
                                 timeout=WAIT, what="event")  # fmt: skip
            except AssertionError:
                c.error = "no ConfbridgeMute/Unmute"
                return
            c.event = events.first(c.uid, c.mute, c.sent)
            assert c.event is not None

            def showing(call: Call) -> bool:
                assert c.event is not None
                return (call.args.get("view_id") == c.view_id and wall(call) >= c.event
                        and shows_muted(call, value) is c.mute)  # fmt: skip

            try:
                update = await fake.wait_for("views.update", showing, timeout=WAIT)
            except AssertionError:
                c.error = "no roster update"
                return
            c.shown = wall(update)
        finally:
            busy.discard(c.uid)
            done.append(c)

    tasks: list[asyncio.Task[None]] = []
    deadline = t0 + hold - MARGIN  # no caller hangs up before t0 + hold
    for _ in range(args.clicks):
        if time.monotonic() > deadline:
            skipped += 1
            continue
        people = [(r, p) for r in rooms for p in tel.tracker.participants(r.id)
                  if p.uniqueid not in busy]  # fmt: skip
        room, person = rng.choice(people)
        busy.add(person.uniqueid)
        c = Click(room, person.uniqueid, views[room.id], mute=not person.muted)
        tasks.append(asyncio.create_task(click(c)))
        await asyncio.sleep(args.gap)
    await asyncio.gather(*tasks)
    clicks_to = time.time()
    still = sum(tel.tracker.count(r.id) for r in rooms)

    # -- figures ------------------------------------------------------------------------
    to_event = [(c.event - c.sent) * 1000 for c in done if c.event is not None]
    to_roster = [(c.shown - c.event) * 1000 for c in done if c.shown and c.event]
    click_to_roster = [(c.shown - c.sent) * 1000 for c in done if c.shown is not None]
    acks = [(c.acked - c.sent) * 1000 for c in done if c.acked]
    errors: dict[str, int] = defaultdict(int)
    for c in done:
        if c.error:
            errors[c.error] += 1
    print(f"{len(done)} clicks ({sum(c.mute for c in done)} Mute, "
          f"{sum(not c.mute for c in done)} Unmute) on {args.rooms} rosters, one every "
          f"{args.gap:g} s; skipped (calls ending) {skipped}; failed {dict(errors) or 0}; "
          f"callers still in at the end {still}/{total}")  # fmt: skip
    print(percentiles("  click to the app's ack (HTTP answer)", acks, len(done) - len(acks)))
    print(percentiles("  click to ConfbridgeMute/Unmute", to_event, len(done) - len(to_event)))
    print(percentiles("  ConfbridgeMute/Unmute to roster views.update", to_roster,
                      len(done) - len(to_roster), "  target < 1000 ms"))  # fmt: skip
    print(percentiles("  click to roster views.update", click_to_roster,
                      len(done) - len(click_to_roster)))  # fmt: skip
    if args.each:
        for c in sorted(done, key=lambda c: c.sent):
            l1 = f"{(c.event - c.sent) * 1000:.0f}" if c.event else "-"
            l2 = f"{(c.shown - c.event) * 1000:.0f}" if c.shown and c.event else "-"
            print(f"    {c.sent - clicks_from:6.2f} s  {c.room.conference_id} "
                  f"{'Mute  ' if c.mute else 'Unmute'} to event {l1:>5} ms, to roster "
                  f"{l2:>5} ms  {c.error or ''}")  # fmt: skip
    span = max(clicks_to - clicks_from, 1e-9)
    for method, tier in (("chat.update", CARD_TIER), ("views.update", ROSTER_TIER)):
        times = [wall(c) for c in fake.calls_to(method)]
        during = sum(1 for t in times if clicks_from <= t <= clicks_to)
        print(f"  {method}: {len(times)} calls in all, at most {busiest_minute(times)} in any "
              f"60 s (limit {tier}); {during} during the {span:.0f} s of clicks "
              f"({60 * during / span:.0f} a minute at that pace)")  # fmt: skip


async def main(args: argparse.Namespace) -> None:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    with tempfile.TemporaryDirectory(prefix="cb-bench-roster-") as tmp:
        async with contextlib.AsyncExitStack() as stack:
            try:
                await run(args, stack, Path(tmp))
            except asyncio.CancelledError:
                # A terminal's Ctrl-C reached the sipp processes too: killing one that
                # already exited reaps it (Popen.send_signal polls first), and asyncio's
                # child watcher then warns about each one. Nothing is lost.
                logging.getLogger("asyncio").setLevel(logging.ERROR)
                raise


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rooms", type=int, default=10, help="rooms (1-10)")
    parser.add_argument("--callers", type=int, default=10, help="callers a room (1-10)")
    parser.add_argument("--clicks", type=int, default=40, help="Mute/Unmute clicks")
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between two clicks")
    parser.add_argument("--hold", type=int, default=45, help=f"call length, s (<= {MAX_HOLD})")
    parser.add_argument("--seed", type=int, default=11, help="which callers get clicked")
    parser.add_argument("--each", action="store_true", help="print every click's figures")
    parser.add_argument("--quick", action="store_true", help="3 rooms of 4 callers, 12 clicks")
    args = parser.parse_args(argv)
    if args.quick:
        args.rooms, args.callers, args.clicks, args.hold = 3, 4, 12, 30
    if not (1 <= args.rooms <= 10 and 1 <= args.callers <= 10):
        parser.error("--rooms and --callers go from 1 to 10 (the product's limits)")
    if args.clicks < 1 or args.gap < 0 or not 10 <= args.hold <= MAX_HOLD:
        parser.error(f"--clicks >= 1, --gap >= 0 and --hold from 10 to {MAX_HOLD}")
    return args


if __name__ == "__main__":
    try:
        asyncio.run(main(parse()))
    except KeyboardInterrupt:  # everything is stopped and removed by now
        sys.exit(130)
    except asyncio.CancelledError:  # SIGTERM
        sys.exit(143)
