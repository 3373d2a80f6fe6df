"""How fast can one phone guess a room's PIN now: wrong PINs the IVR compares per minute,
from one phone calling again and again, and from one phone making 10 calls at once; before
the lockout stops it, and after.

    .venv/bin/python -m bench.bench_pin_guessing [--after 45]

Starts its own Asterisk from the cached prefix on free loopback ports, with the product's
lockout settings (``PBX_LOCKOUT_*`` defaults: 5 wrong PINs in 15 min lock a caller out of
the room for 15 min; at most 4 calls of one caller in the IVR). A room with a 4-digit PIN.

Method: sipp calls (tests/sipp/call.xml, SIP INFO keys 300 ms apart, the tests' spacing)
type the conference ID and three wrong 4-digit PINs each. A wrong PIN counts as a guess when
the dialplan compared it: the room's own count of wrong PINs in AstDB (its ``fails`` list)
says how many were. "Before" is from the first call to the lockout event; "after" keeps
calling for ``--after`` seconds while the lockout holds. With the lockout lasting 15 min,
the long-run rate per caller is 5 guesses per 15 min plus the time to make them.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.repository import Repository
from bot.service import ConferenceService
from bot.wiring import Telephony, build_telephony
from deploy.lockout_settings import LockoutSettings
from deploy.prefix import ensure_prefix
from telephony.errors import PbxActionFailed
from telephony.lockouts import LockoutEvent, Stage
from telephony.naming import FAILS_KEY, LOCKOUTS_FAMILY, ROOM_SCOPE, lockout_family
from tests.pbx_fixtures import PHONES, Pbx, make_pbx
from tests.telephony.sipp import SippResult

CONFERENCE_ID = "4321"
PIN = "2468"
PASSWORDS = dict(PHONES)


def wrong_pins(n: int, start: int) -> str:
    return "".join(f"{(start + i) % 10000:04d}#" for i in range(n) if f"{start + i:04d}" != PIN)


@dataclass
class Bench:
    pbx: Pbx
    tel: Telephony
    settings: LockoutSettings
    room_id: int = 0
    guess: int = 0
    locked_at: float | None = None  # when the lockout event came (monotonic)

    def call(self, phone: str, tag: str) -> asyncio.Task[SippResult]:
        """One call typing the ID and three wrong PINs (never the same ones twice)."""
        dtmf = f"{CONFERENCE_ID}#{wrong_pins(3, 1000 + self.guess)}"
        self.guess += 3
        return asyncio.create_task(self.pbx.sipp.call(
            "800", dtmf=dtmf, caller=phone, password=PASSWORDS[phone], wait_for_hangup=True,
            tag=tag))  # fmt: skip

    async def compared(self) -> int:
        """Wrong PINs the dialplan compared since the last reset: the room's own count."""
        family = lockout_family(ROOM_SCOPE, room_id=self.room_id)
        listing = await self.tel.ami.list_action({"Action": "DBGet", "Family": family,
                                                  "Key": FAILS_KEY})  # fmt: skip
        value = next((str(m.get("Val", "")) for m in listing if m.get("Val")), "")
        return len([t for t in value.split("-") if t])

    async def reset(self) -> None:
        try:
            await self.tel.ami.action({"Action": "DBDelTree", "Family": LOCKOUTS_FAMILY})
        except PbxActionFailed:
            pass  # nothing there yet
        self.locked_at = None


@dataclass
class Tally:
    calls: int = 0
    busy: int = 0


async def waves(bench: Bench, phone: str, parallel: int, until: Callable[[], bool]) -> Tally:
    """Waves of ``parallel`` calls until ``until()``; how many calls, how many busy."""
    tally = Tally()
    while not until():
        wave = [bench.call(phone, f"{phone}-{bench.guess}-{i}") for i in range(parallel)]
        results = await asyncio.gather(*wave)
        tally.calls += len(results)
        tally.busy += sum(1 for r in results if "486 Busy" in r.log)
    return tally


async def phase(bench: Bench, phone: str, parallel: int, after: float) -> None:
    await bench.reset()
    start = time.monotonic()
    deadline = start + 300

    def locked() -> bool:
        if time.monotonic() > deadline:
            raise SystemExit("no lockout within 5 minutes: something is wrong")
        return bench.locked_at is not None

    first = await waves(bench, phone, parallel, locked)
    assert bench.locked_at is not None
    burst = bench.locked_at - start
    before = await bench.compared()
    later = time.monotonic()
    second = await waves(bench, phone, parallel, lambda: time.monotonic() - later >= after)
    spent = time.monotonic() - later
    total = await bench.compared()
    s = bench.settings
    print(f"{phone}, {parallel} call(s) at a time:")
    print(f"  before the lockout: {before} guesses in {burst:.1f} s = {before / burst * 60:.1f} "
          f"guesses/min ({first.calls} calls, {first.busy} busy)")  # fmt: skip
    print(f"  after: {total - before} guesses in {spent:.0f} s ({second.calls} calls, "
          f"{second.busy} busy, the others refused at once)")  # fmt: skip
    print(f"  long run: {before} guesses per {s.pin_lock / 60:.0f} min lockout + {burst:.0f} s "
          f"= {before / ((s.pin_lock + burst) / 60):.2f} guesses/min")  # fmt: skip


async def main(args: argparse.Namespace) -> None:
    install = await asyncio.to_thread(ensure_prefix)
    base = Path(tempfile.mkdtemp(prefix="bench-pin-guessing-"))
    pbx = make_pbx(install, base / "pbx" / "run", base / "pbx" / "logs")
    settings = LockoutSettings()
    pbx.cfg.lockouts = settings
    await asyncio.to_thread(pbx.start)
    repo = await Repository.open(base / "conference.db")
    try:
        service = ConferenceService(repo)
        await service.setup_server("800", "bench")
        tel = build_telephony(service, host="127.0.0.1", port=pbx.cfg.ami_port,
                              username=pbx.creds.username, secret=pbx.creds.password,
                              lockouts=settings)  # fmt: skip
        bench = Bench(pbx, tel, settings)

        def seen(msg: Mapping[str, Any]) -> None:
            event = LockoutEvent.parse(msg)
            if event is not None and event.stage is Stage.LOCKED and bench.locked_at is None:
                bench.locked_at = time.monotonic()

        tel.ami.register_event("UserEvent", seen)
        await tel.ami.start()
        assert await tel.ami.wait_ready(20)
        while not tel.sync.synced:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        room = await service.create_room(name="Target", conference_id=CONFERENCE_ID, pin=PIN,
                                         actor="bench")  # fmt: skip
        bench.room_id = room.id
        print(f"PIN guessing against a 4-digit PIN, keys 300 ms apart; settings: {settings}")
        await phase(bench, "alice", 1, args.after)
        await phase(bench, "bob", 10, args.after)
        await tel.ami.close()
    finally:
        await repo.close()
        await asyncio.to_thread(pbx.stop)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--after", type=float, default=45.0,
                        help="seconds to keep calling once locked out")  # fmt: skip
    asyncio.run(main(parser.parse_args()))
