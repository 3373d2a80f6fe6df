"""Registration-trunk recovery: how soon after the provider is back our PBX is registered.

    .venv/bin/python -m bench.bench_trunk_recovery [--runs 5] [--transport udp|tcp|both]

A provider (``tests.provider_pbx``: a second Asterisk on 127.0.0.4, our registrar) and our
PBX with a registration trunk to it, as the product configures it (retry_interval 10 s).
Each run stops the provider, which forgets every registration; waits until our monitor
reports the trunk lost (detection: provider stopped -> our state "unreachable"); keeps the
provider down a random 0-10 s more, so that the phase of Asterisk's retry timer is sampled;
starts it again and times recovery: provider booted -> our state "registered" (the Registry
event). Over UDP nothing tells our PBX that the provider went away until its next refresh
goes unanswered for SIP's 32 s (timer F): the provider grants ``--grant`` s registrations
so that refreshes come every grant - 10 s (Asterisk refreshes 10 s before expiry; with a
provider that grants the requested 120 s, detection takes up to 110 + 32 s). Over TCP the
dropped connection makes Asterisk register again at once.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bot.repository import Repository
from bot.service import ConferenceService
from bot.wiring import telephony_for
from deploy.prefix import ensure_prefix
from telephony.registration import RegistrationMonitor, TrunkStatus
from tests.pbx_fixtures import make_pbx
from tests.provider_pbx import TRUNK_PASSWORD, make_provider, wait_for


def figures(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: no samples"
    v = sorted(values)
    return f"{name}: n={len(v)} min={v[0]:.1f} median={statistics.median(v):.1f} max={v[-1]:.1f} s"


async def bench(transport: str, runs: int, grant: int, seed: int) -> None:
    install = ensure_prefix()
    base = Path(tempfile.mkdtemp(prefix="bench-trunk-"))
    rng = random.Random(seed)
    provider = make_provider(install, base, maximum_expiration=grant)
    await provider.start()
    pbx = make_pbx(install, base / "run", base / "sipp")
    registrar = provider.cfg.registrar_uri_tcp if transport == "tcp" else provider.cfg.registrar_uri
    pbx.cfg = replace(pbx.cfg, trunk_registrar=registrar, trunk_user=provider.cfg.user,
                      trunk_password=TRUNK_PASSWORD)  # fmt: skip
    repo = await Repository.open(base / "conference.db")
    pbx.start()
    tel = telephony_for(pbx.cfg, ConferenceService(repo))
    trunk = tel.trunk
    assert trunk is not None
    detect: list[float] = []
    recover: list[float] = []
    try:
        await tel.ami.start()
        assert await tel.ami.wait_ready(20), "AMI did not become ready"
        await until(trunk, TrunkStatus.REGISTERED, 30)
        retry = trunk.state.retry_interval or 10
        granted = f", registrations granted for {grant} s" if transport == "udp" else ""
        print(f"{transport}: registered to {registrar}; retry_interval {retry} s{granted}")
        for run in range(1, runs + 1):
            t_stop = time.monotonic()
            await provider.stop()
            provider.forget()
            lost = await until(trunk, TrunkStatus.UNREACHABLE, grant + 60) - t_stop
            extra = rng.uniform(0, retry)
            await asyncio.sleep(extra)
            await provider.start()
            assert provider.started_at is not None
            back = await until(trunk, TrunkStatus.REGISTERED, retry + 30) - provider.started_at
            detect.append(lost)
            recover.append(back)
            print(f"  run {run}: lost {lost:5.1f} s after the provider stopped; down "
                  f"{extra:4.1f} s more; registered {back:5.1f} s after it booted")  # fmt: skip
            await wait_for(provider.contact_uris, 10, "the provider to hold our contact")
    finally:
        await tel.ami.close()
        await tel.sync.close()
        await trunk.close()
        pbx.stop()
        await provider.stop()
        await repo.close()
        shutil.rmtree(base, ignore_errors=True)
    print(figures(f"{transport}: detection (provider stopped -> unreachable)", detect))
    print(figures(f"{transport}: recovery (provider booted -> registered)", recover)
          + f"  bound: retry_interval {retry} s")  # fmt: skip


async def until(trunk: RegistrationMonitor, status: TrunkStatus, timeout: float) -> float:
    """Wait for ``status``; return the monotonic time it was seen."""
    await wait_for(lambda: trunk.state.status is status, timeout, f"trunk {status}")
    return time.monotonic()


async def main(args: argparse.Namespace) -> None:
    transports = ("udp", "tcp") if args.transport == "both" else (args.transport,)
    for transport in transports:
        await bench(transport, args.runs, args.grant, args.seed)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="provider restarts per transport")
    parser.add_argument("--transport", choices=("udp", "tcp", "both"), default="both")
    parser.add_argument(
        "--grant", type=int, default=15, help="registration lifetime the provider grants, s"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed for the extra down time")
    asyncio.run(main(parser.parse_args()))
