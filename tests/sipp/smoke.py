"""End-to-end smoke run: real Asterisk (deploy.pbx) + real sipp calls.

    python tests/sipp/smoke.py [--sip-port 15060] [--ami-port 15038] [--keep]

Builds/reuses the Asterisk prefix, starts Asterisk on loopback in a temporary
run dir, writes the AstDB keys over AMI, places every call case with the
scenarios beside this file, checks the outcome (sipp exit code, AMI events,
ConfbridgeListRooms) and stops Asterisk.  Prints one line per case and the
timings; exits non-zero if any case failed.  Needs ``sipp`` (Debian package
``sip-tester``).  Not collected by pytest (no ``test_`` prefix).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from deploy.ami import AmiClient, AmiMessage  # noqa: E402
from deploy.pbx import AsteriskProcess, PbxConfig, PbxError, status  # noqa: E402
from deploy.prefix import AsteriskInstall, ensure_prefix  # noqa: E402

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
TRUNK_IP = "127.0.0.2"
NUMBER = "+15551234567"
EXTENSION = "800"


@dataclass
class SippResult:
    rc: int
    argv: list[str]
    log: str
    seconds: float


@dataclass
class Ctx:
    cfg: PbxConfig
    ami: AmiClient
    logs: Path
    events: list[AmiMessage] = field(default_factory=list)
    show_commands: bool = False
    next_port: int = 16000

    def ports(self) -> tuple[int, int]:
        """A fresh (SIP, media) local port pair for one sipp run."""
        self.next_port += 10
        return self.next_port, self.next_port + 5

    def user_events(self, name: str) -> list[AmiMessage]:
        return [e for e in self.events if e.event == "UserEvent" and e.get("UserEvent") == name]


async def sipp(
    ctx: Ctx,
    scenario: str,
    *,
    service: str,
    caller: str,
    dtmf: str = "",
    mode: str = "hold",
    hold_ms: int = 0,
    user: str | None = None,
    password: str | None = None,
    local_ip: str = HOST,
    expect: str = "",
    tag: str = "call",
) -> SippResult:
    sip_port, media_port = ctx.ports()
    log_file = ctx.logs / f"{tag}.log"
    err_file = ctx.logs / f"{tag}.err"
    argv = [
        "sipp",
        "-sf",
        str(HERE / scenario),
        f"{HOST}:{ctx.cfg.sip_port}",
        "-s",
        service,
        "-i",
        local_ip,
        "-bind_local",
        "-p",
        str(sip_port),
        "-mp",
        str(media_port),
        "-m",
        "1",
        "-l",
        "1",
        "-nostdin",
        "-timeout",
        "60",
        "-recv_timeout",
        "30000",
        "-set",
        "caller",
        caller,
        "-trace_logs",
        "-log_file",
        str(log_file),
        "-trace_err",
        "-error_file",
        str(err_file),
    ]
    if scenario == "call.xml":
        argv += ["-set", "dtmf", dtmf, "-set", "mode", mode, "-d", str(hold_ms)]
    if expect:
        argv += ["-set", "expect", expect]
    if user is not None and password is not None:
        argv += [
            "-au",
            user,
            "-ap",
            password,
            "-auth_uri",
            f"sip:{service}@{HOST}:{ctx.cfg.sip_port}",
        ]
    if ctx.show_commands:
        print("  $ " + " ".join(a if a and " " not in a else repr(a) for a in argv))
    t0 = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, cwd=ctx.logs
    )
    rc = await proc.wait()
    text = ""
    for f in (log_file, err_file):
        if f.exists():
            text += f.read_text(errors="replace")
    return SippResult(rc, argv, text, time.monotonic() - t0)


async def rooms(ctx: Ctx) -> dict[str, int]:
    out: dict[str, int] = {}
    for m in await ctx.ami.action("ConfbridgeListRooms"):
        if m.event == "ConfbridgeListRooms":
            out[m["Conference"]] = int(m["Parties"])
    return out


async def db_put(ctx: Ctx, family: str, key: str, value: str) -> None:
    reply = await ctx.ami.action("DBPut", {"Family": family, "Key": key, "Val": value})
    assert reply[0].get("Response") == "Success", reply


def check(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)


# --------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------


async def case_join_with_pin(ctx: Ctx) -> str:
    task = asyncio.create_task(
        sipp(
            ctx,
            "call.xml",
            service=EXTENSION,
            caller="alice",
            dtmf="1234#5678#",
            hold_ms=4000,
            user="alice",
            password="secret1",
            tag="join_pin",
        )
    )
    await asyncio.sleep(5.0)
    seen = await rooms(ctx)
    res = await task
    check(seen.get("room-7") == 1, f"room-7 not joined: {seen}")
    check(res.rc == 0, f"sipp rc {res.rc}: {res.log[-800:]}")
    return f"room-7 parties=1 while held; sipp rc=0 ({res.seconds:.1f} s)"


async def case_join_no_pin(ctx: Ctx) -> str:
    task = asyncio.create_task(
        sipp(
            ctx,
            "call.xml",
            service=EXTENSION,
            caller="bob",
            dtmf="4321#",
            hold_ms=3000,
            user="bob",
            password="secret2",
            tag="join_nopin",
        )
    )
    await asyncio.sleep(3.0)
    seen = await rooms(ctx)
    res = await task
    check(seen.get("room-8") == 1, f"room-8 not joined: {seen}")
    check(res.rc == 0, f"sipp rc {res.rc}: {res.log[-800:]}")
    return f"room-8 parties=1; sipp rc=0 ({res.seconds:.1f} s)"


async def case_wrong_pin(ctx: Ctx) -> str:
    before = len(ctx.user_events("ConferencePinFailed"))
    res = await sipp(
        ctx,
        "call.xml",
        service=EXTENSION,
        caller="alice",
        dtmf="1234#1111#2222#3333#",
        mode="wait",
        user="alice",
        password="secret1",
        tag="wrong_pin",
    )
    check(res.rc == 0, f"sipp rc {res.rc}: {res.log[-800:]}")
    await asyncio.sleep(0.2)
    evs = ctx.user_events("ConferencePinFailed")[before:]
    check(len(evs) == 1, "no ConferencePinFailed event")
    ev = evs[0]
    check(
        ev.get("Room") == "7" and ev.get("ConferenceID") == "1234" and ev.get("Tries") == "3",
        str(ev),
    )
    check(
        all("5678" not in v and "1111" not in v for _, v in ev.headers), "PIN digits in the event"
    )
    return f"server BYE after 3 wrong PINs ({res.seconds:.1f} s); event {ev.as_dict()}"


async def case_invalid_id(ctx: Ctx) -> str:
    before = len(ctx.user_events("ConferenceInvalidId"))
    res = await sipp(
        ctx,
        "call.xml",
        service=EXTENSION,
        caller="bob",
        dtmf="999#998#997#",
        mode="wait",
        user="bob",
        password="secret2",
        tag="invalid_id",
    )
    check(res.rc == 0, f"sipp rc {res.rc}: {res.log[-800:]}")
    await asyncio.sleep(0.2)
    evs = ctx.user_events("ConferenceInvalidId")[before:]
    check(len(evs) == 1 and evs[0].get("ConferenceID") == "997", f"events {evs}")
    return f"server BYE after 3 unknown IDs ({res.seconds:.1f} s); event {evs[0].as_dict()}"


async def case_trunk(ctx: Ctx) -> str:
    out = []
    for dialed in (NUMBER, NUMBER.lstrip("+")):
        task = asyncio.create_task(
            sipp(
                ctx,
                "call.xml",
                service=dialed,
                caller="+15550001111",
                dtmf="4321#",
                hold_ms=2500,
                local_ip=TRUNK_IP,
                tag=f"trunk_{dialed.lstrip('+')}",
            )
        )
        await asyncio.sleep(2.6)
        seen = await rooms(ctx)
        res = await task
        check(seen.get("room-8") == 1, f"trunk call to {dialed} not in room-8: {seen}")
        check(res.rc == 0, f"sipp rc {res.rc}: {res.log[-800:]}")
        check("401" not in res.log, "trunk call was challenged")
        out.append(f"{dialed}: room-8")
    res = await sipp(
        ctx,
        "refused.xml",
        service="+15559999999",
        caller="+15550001111",
        local_ip=TRUNK_IP,
        expect="404",
        tag="trunk_wrong_number",
    )
    check(res.rc == 0, f"wrong number not refused with 404: {res.log[-800:]}")
    out.append("other number: 404")
    return "; ".join(out)


async def case_refusals(ctx: Ctx) -> str:
    out = []
    cases: list[tuple[str, str, str | None, str | None, str]] = [
        ("bad password", "alice", "alice", "wrong", "401"),
        ("unknown user", "mallory", "mallory", "whatever", "401"),
        ("wrong extension", "alice", "alice", "secret1", "404"),
    ]
    for label, caller, user, password, code in cases:
        service = "801" if label == "wrong extension" else EXTENSION
        res = await sipp(
            ctx,
            "refused.xml",
            service=service,
            caller=caller,
            user=user,
            password=password,
            expect=code,
            tag=label.replace(" ", "_"),
        )
        check(res.rc == 0, f"{label}: {res.log[-800:]}")
        out.append(f"{label}: {code}")
    return "; ".join(out)


async def case_full(ctx: Ctx) -> str:
    before = len(ctx.user_events("ConferenceFull"))
    first = asyncio.create_task(
        sipp(
            ctx,
            "call.xml",
            service=EXTENSION,
            caller="alice",
            dtmf="4321#",
            hold_ms=6000,
            user="alice",
            password="secret1",
            tag="full_first",
        )
    )
    await asyncio.sleep(2.5)
    second = await sipp(
        ctx,
        "call.xml",
        service=EXTENSION,
        caller="bob",
        dtmf="4321#",
        mode="wait",
        user="bob",
        password="secret2",
        tag="full_second",
    )
    seen = await rooms(ctx)
    res1 = await first
    check(second.rc == 0, f"second caller: {second.log[-800:]}")
    check(res1.rc == 0, f"first caller: {res1.log[-800:]}")
    check(seen.get("room-8") == 1, f"room-8 should still hold 1: {seen}")
    evs = ctx.user_events("ConferenceFull")[before:]
    check(
        len(evs) == 1 and evs[0].get("Room") == "8" and evs[0].get("ConferenceID") == "4321",
        f"{evs}",
    )
    return f"2nd caller refused + BYE ({second.seconds:.1f} s); event {evs[0].as_dict()}"


async def case_locked(ctx: Ctx) -> str:
    before = len(ctx.user_events("ConferenceLocked"))
    first = asyncio.create_task(
        sipp(
            ctx,
            "call.xml",
            service=EXTENSION,
            caller="alice",
            dtmf="1234#5678#",
            hold_ms=5000,
            user="alice",
            password="secret1",
            tag="locked_first",
        )
    )
    await asyncio.sleep(4.0)
    reply = await ctx.ami.action("ConfbridgeLock", {"Conference": "room-7"})
    check(reply[0].get("Response") == "Success", str(reply))
    second = await sipp(
        ctx,
        "call.xml",
        service=EXTENSION,
        caller="bob",
        dtmf="1234#5678#",
        mode="wait",
        user="bob",
        password="secret2",
        tag="locked_second",
    )
    res1 = await first
    check(second.rc == 0 and res1.rc == 0, f"rc {res1.rc}/{second.rc}: {second.log[-800:]}")
    evs = ctx.user_events("ConferenceLocked")[before:]
    check(len(evs) == 1 and evs[0].get("Room") == "7", f"{evs}")
    return f"2nd caller refused (conf-locked) + BYE; event {evs[0].as_dict()}"


async def case_kicked(ctx: Ctx) -> str:
    start = len(ctx.events)
    task = asyncio.create_task(
        sipp(
            ctx,
            "call.xml",
            service=EXTENSION,
            caller="alice",
            dtmf="1234#5678#",
            mode="wait",
            user="alice",
            password="secret1",
            tag="kicked",
        )
    )
    chan = None
    for _ in range(100):
        await asyncio.sleep(0.1)
        joins = [
            e
            for e in ctx.events[start:]
            if e.event == "ConfbridgeJoin" and e.get("Conference") == "room-7"
        ]
        if joins:
            chan = joins[0]["Channel"]
            break
    check(chan is not None, "caller never joined room-7")
    assert chan is not None
    reply = await ctx.ami.action("ConfbridgeKick", {"Conference": "room-7", "Channel": chan})
    check(reply[0].get("Response") == "Success", str(reply))
    res = await task
    check(res.rc == 0, f"sipp rc {res.rc}: {res.log[-800:]}")
    return f"kicked {chan}; server BYE; sipp rc=0"


async def lifecycle(pbx: AsteriskProcess, install: AsteriskInstall) -> str:
    """Busy ports, AstDB across a restart, crash (SIGKILL) and restart."""
    cfg = pbx.cfg
    other = PbxConfig(
        run_dir=Path(tempfile.mkdtemp(prefix="pbx-other-")),
        sip_port=cfg.sip_port,
        ami_port=cfg.ami_port,
    )
    try:
        await AsteriskProcess(other, install).start()
        raise AssertionError("second instance on the same ports started")
    except PbxError as exc:
        busy = str(exc).splitlines()[0]
        check("already in use" in busy, busy)
    finally:
        shutil.rmtree(other.run_dir, ignore_errors=True)
    t0 = time.monotonic()
    await pbx.stop()
    t_stop = time.monotonic() - t0
    check(not status(cfg.run_dir)["running"], "still running after stop")
    t0 = time.monotonic()
    await pbx.start()
    t_start = time.monotonic() - t0

    async def db_get(key: str) -> str | None:
        async with await AmiClient.connect(HOST, cfg.ami_port) as ami:
            await ami.login(pbx.credentials, events="off")
            reply = await ami.action("DBGet", {"Family": "conference/server", "Key": key})
            return next((m.get("Val") for m in reply if m.event == "DBGetResponse"), None)

    check(await db_get("number") == NUMBER, "AstDB lost across restart")
    pid = pbx.pid
    pbx.kill()
    st = status(cfg.run_dir)
    check(not st["running"] and st["stale"], f"after kill: {st}")
    await pbx.start()
    check(pbx.pid != pid and status(cfg.run_dir)["running"], "restart after kill")
    check(await db_get("extension") == EXTENSION, "AstDB lost after crash")
    return (
        f"busy ports -> {busy!r}; stop {t_stop:.2f} s; "
        f"restart->FullyBooted {t_start:.2f} s; AstDB kept; kill+restart ok"
    )


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sip-port", type=int, default=15060)
    ap.add_argument("--ami-port", type=int, default=15038)
    ap.add_argument("--keep", action="store_true", help="keep the run dir")
    ap.add_argument("--show-commands", action="store_true", help="print every sipp command line")
    args = ap.parse_args()
    if shutil.which("sipp") is None:
        print("sipp not found (apt-get install sip-tester)", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    install = ensure_prefix()
    t_prefix = time.monotonic() - t0
    run_dir = Path(tempfile.mkdtemp(prefix="pbx-smoke-"))
    cfg = PbxConfig.from_env(
        {
            "PBX_SIP_PORT": str(args.sip_port),
            "PBX_AMI_PORT": str(args.ami_port),
            "PBX_RTP_PORTS": "12000-12099",
            "PBX_PHONES": "alice:secret1,bob:secret2",
            "PBX_TRUNK_IPS": f"203.0.113.5,{TRUNK_IP}",
        },
        run_dir,
    )
    pbx = AsteriskProcess(cfg, install)
    t0 = time.monotonic()
    await pbx.start()
    t_start = time.monotonic() - t0
    failures = 0
    try:
        ami = await AmiClient.connect(HOST, cfg.ami_port)
        await ami.login(pbx.credentials)
        logs = run_dir / "sipp"
        logs.mkdir()
        ctx = Ctx(cfg=cfg, ami=ami, logs=logs, show_commands=args.show_commands)

        async def collect() -> None:
            while True:
                ctx.events.append(await ami.events.get())

        collector = asyncio.create_task(collect())
        await db_put(ctx, "conference/server", "extension", EXTENSION)
        await db_put(ctx, "conference/server", "number", NUMBER)
        for confid, room, pin, limit, lang in (
            ("1234", "7", "5678", "3", "en"),
            ("4321", "8", "", "1", "es"),
        ):
            for key, val in (("room", room), ("pin", pin), ("max", limit), ("lang", lang)):
                await db_put(ctx, f"conference/rooms/{confid}", key, val)
        cases: list[tuple[str, Callable[[Ctx], Awaitable[str]]]] = [
            ("join with ID+PIN", case_join_with_pin),
            ("join room without PIN", case_join_no_pin),
            ("wrong PIN x3", case_wrong_pin),
            ("unknown ID x3", case_invalid_id),
            ("trunk from 127.0.0.2", case_trunk),
            ("refused before answer", case_refusals),
            ("room full (max 1)", case_full),
            ("room locked (ConfbridgeLock)", case_locked),
            ("kicked", case_kicked),
        ]
        for name, fn in cases:
            try:
                detail = await fn(ctx)
                print(f"PASS {name}: {detail}")
            except AssertionError as exc:
                failures += 1
                print(f"FAIL {name}: {exc}")
        collector.cancel()
        await ami.close()
        leaks = [
            str(f)
            for f in (run_dir / "log").iterdir()
            if any(x in f.read_text(errors="replace") for x in ("5678", "secret1", "secret2"))
        ]
        print(
            ("FAIL" if leaks else "PASS") + f" no PIN/password in Asterisk logs: {leaks or 'none'}"
        )
        failures += bool(leaks)
        for name, lfn in (("lifecycle", lifecycle),):
            try:
                print(f"PASS {name}: {await lfn(pbx, install)}")
            except (AssertionError, PbxError) as exc:
                failures += 1
                print(f"FAIL {name}: {exc}")
    finally:
        t0 = time.monotonic()
        await pbx.stop()
        t_stop = time.monotonic() - t0
        print(
            f"timings: prefix ready {t_prefix:.2f} s, start->FullyBooted {t_start:.2f} s, "
            f"stop {t_stop:.2f} s"
        )
        if args.keep:
            print(f"run dir kept: {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    print(f"{len(cases) + 2 - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
