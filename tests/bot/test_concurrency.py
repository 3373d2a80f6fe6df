"""The room cap holds across processes racing for the last free place."""

from __future__ import annotations

import asyncio
import os
import sys
from asyncio.subprocess import PIPE
from pathlib import Path

from bot.repository import Repository
from bot.service import ConferenceService

RACER = """
import os, sys, time
from asyncio.subprocess import PIPE
from pathlib import Path
from bot.cli import main
gate = Path(sys.argv[1])
while not gate.exists():
    time.sleep(0.001)
sys.exit(main(["rooms", "create", "--name", sys.argv[2], "--id", sys.argv[3]]))
"""


async def test_twenty_processes_race_for_the_tenth_room(tmp_path: Path) -> None:
    db = tmp_path / "conference.db"
    repo = await Repository.open(db)
    service = ConferenceService(repo)
    await service.setup_server("800", "t")
    for i in range(9):
        await service.create_room(name=f"Room {i}", conference_id=f"10{i}", actor="t")
    await repo.close()

    gate = tmp_path / "go"
    env = os.environ | {"CONFERENCE_DB": str(db)}
    racers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            RACER,
            str(gate),
            f"Racer {n}",
            f"5{n:02d}",
            env=env,
            cwd=tmp_path,
            stdout=PIPE,
            stderr=PIPE,
        )
        for n in range(20)
    ]
    await asyncio.sleep(1.0)  # let every racer import and wait at the gate
    gate.touch()
    outputs = await asyncio.gather(*(p.communicate() for p in racers))
    results = [
        (p.returncode, out.decode(), err.decode())
        for p, (out, err) in zip(racers, outputs, strict=True)
    ]

    winners = [r for r in results if r[0] == 0]
    losers = [r for r in results if r[0] != 0]
    assert len(winners) == 1, results
    assert len(losers) == 19
    for code, _out, err in losers:
        assert code == 1
        assert "already has 10 rooms" in err, err
        assert "Traceback" not in err

    repo = await Repository.open(db)
    try:
        assert len(await ConferenceService(repo).list_rooms()) == 10
    finally:
        await repo.close()
