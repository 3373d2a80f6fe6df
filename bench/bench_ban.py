"""Time to ban: how long a source guessing phone passwords gets, and how many guesses.

    .venv/bin/python -m bench.bench_ban [--runs 5] [--parallel 1,10] [--failures 10]

A real PBX (bundled Asterisk) with the bot's login bans as ``serve`` wires them
(``bot.wiring.pbx_defences``: security events over AMI, the ban list, the PJSIP ACL reload).
Each run, a raw SIP client on 127.0.0.5 registers as a real phone with wrong passwords, as
fast as Asterisk answers, from ``--parallel`` sockets at once, until it is refused (403).
Reported per run: time to ban (first guess sent -> first 403), guesses Asterisk checked
(answered 401 to the digest) before the ban, and the AMI ``Reload`` of the ACL alone.
Between runs the ban is lifted (as ``conference-bot bans clear`` does).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import deploy.process
from bot.repository import Repository
from bot.service import ConferenceService
from bot.wiring import build_telephony, pbx_defences
from deploy.bans import BanFile
from deploy.policies import BanPolicy
from deploy.prefix import ensure_prefix
from deploy.render import render_config
from telephony.bans import reload_bans
from tests.pbx_fixtures import PHONES, make_pbx
from tests.sip_register import Registrar
from tests.telephony.test_login_bans import _security_events_readable

ATTACKER = "127.0.0.5"


def figures(name: str, values: list[float], unit: str, scale: float = 1.0) -> str:
    v = sorted(x * scale for x in values)
    return (f"{name}: n={len(v)} min={v[0]:.1f} median={statistics.median(v):.1f} "
            f"max={v[-1]:.1f} {unit}")  # fmt: skip


async def guess_until_banned(port: int, parallel: int) -> tuple[float, int]:
    """(seconds from the first guess to the first 403, guesses checked before it)."""
    user = PHONES[0][0]
    banned = asyncio.Event()
    checked = 0
    first_403: list[float] = []

    async def worker(n: int) -> None:
        nonlocal checked
        async with Registrar("127.0.0.1", port, ATTACKER) as reg:
            i = 0
            while not banned.is_set():
                i += 1
                status = await reg.register(user, f"guess-{n}-{i}", timeout=1.0)
                if status == 401:
                    checked += 1
                elif status == 403:
                    if not first_403:
                        first_403.append(time.monotonic())
                    banned.set()

    t0 = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(worker(n) for n in range(parallel))), 30)
    return first_403[0] - t0, checked


async def bench(runs: int, parallels: list[int], failures: int) -> None:
    deploy.process.render_config = _security_events_readable(render_config)  # type: ignore[attr-defined]
    install = ensure_prefix()
    base = Path(tempfile.mkdtemp(prefix="bench-ban-"))
    pbx = make_pbx(install, base / "run", base / "sipp")
    pbx.cfg = dataclasses.replace(pbx.cfg, bans=BanPolicy(failures=failures, window=600))
    repo = await Repository.open(base / "conference.db")
    service = ConferenceService(repo)
    pbx.start()
    tel = build_telephony(service, host="127.0.0.1", port=pbx.cfg.ami_port,
                          username=pbx.creds.username, secret=pbx.creds.password)  # fmt: skip
    defences = pbx_defences(pbx.cfg, service, tel.ami)
    store = BanFile(pbx.cfg.run_dir)
    try:
        await tel.ami.start()
        assert await tel.ami.wait_ready(20), "AMI did not become ready"
        print(f"{install.version}; ban after {failures} failures; {runs} runs each")
        for parallel in parallels:
            times, guesses, reloads = [], [], []
            for _ in range(runs):
                took, checked = await guess_until_banned(pbx.cfg.sip_port, parallel)
                await defences.bans.wait_idle()
                times.append(took)
                guesses.append(float(checked))
                store.remove(None)
                t0 = time.monotonic()
                await reload_bans(tel.ami)
                reloads.append(time.monotonic() - t0)
            print(f"{parallel} socket(s) guessing at once:")
            print("  " + figures("time to ban (first guess -> 403)", times, "ms", 1000))
            print("  " + figures("guesses checked before the ban", guesses, ""))
            print("  " + figures("ACL reload (AMI Reload res_pjsip.so)", reloads, "ms", 1000))
    finally:
        await defences.close()
        await tel.ami.close()
        await tel.sync.close()
        await repo.close()
        pbx.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--parallel", default="1,10", help="sockets guessing at once, e.g. 1,10")
    parser.add_argument("--failures", type=int, default=10, help="PBX_BAN_FAILURES")
    a = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # each ban's WARNING line is no figure
    asyncio.run(bench(a.runs, [int(p) for p in a.parallel.split(",")], a.failures))
