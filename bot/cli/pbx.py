"""``conference-bot pbx start|stop|status|sync``: the bundled Asterisk, run in the background.

``pbx sync`` writes the rooms to a running PBX and waits until it confirms them; a command
whose change the PBX did not confirm leaves one running in the background (``--background``),
which applies it as soon as the PBX answers.

The process is deploy's (``deploy.daemon``, ``deploy.pidfile``); its settings and the live
connection come from ``bot.wiring``.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from bot import exits
from bot.cli.output import Context
from bot.cli.parsing import DEFAULT_WAIT, command, json_flag, seconds
from bot.config import Settings
from bot.service import ConferenceService
from bot.text import printable
from bot.wiring import is_running, live_pbx, pbx_config, run_dir, telephony_for
from deploy.daemon import run_cli, start_detached, stop_detached
from deploy.errors import DeployError
from deploy.pidfile import running_listeners
from deploy.pidfile import status as process_status
from deploy.prefix import ensure_prefix
from telephony.astdb import WATCH_INTERVAL
from telephony.errors import PbxUnavailable
from telephony.naming import bridge_name
from telephony.registration import TrunkStatus

log = logging.getLogger("conference_bot.pbx")


async def status_dict(settings: Settings, service: ConferenceService) -> dict[str, Any]:
    cfg = pbx_config(settings)
    proc = process_status(cfg.run_dir)
    server = await service.get_server()
    info: dict[str, Any] = {
        "running": bool(proc.get("running")),
        "pid": proc.get("pid"),
        "bind_address": cfg.bind_address,
        "sip_port": cfg.sip_port,
        "ami_port": cfg.ami_port,
        "rtp_ports": f"{cfg.rtp_start}-{cfg.rtp_end}",
        "external_address": cfg.external_address,
        # Where it really listens (as recorded at start), else where these settings say.
        "listeners": running_listeners(cfg.run_dir) or cfg.listeners(),
        "extension": server.extension if server else None,
        "phone_number": server.phone_number if server else None,
        "asterisk_version": proc.get("asterisk_version"),
        "ami": "down",
        "active_rooms": {},
        # The registration trunk (None without one); its state needs the running PBX.
        "trunk": None if cfg.registration is None else {
            "state": "unknown", "registrar": cfg.trunk_registrar, "user": cfg.trunk_user,
        },
    }  # fmt: skip
    if info["running"]:
        async with live_pbx(settings, service, timeout=3.0) as live:
            if live is not None:
                info["ami"] = "ready"
                core = await live.ami.action({"Action": "CoreSettings"})
                info["asterisk_version"] = (
                    str(core.get("AsteriskVersion", "")) or info["asterisk_version"]
                )
                ids = {r.id: r.conference_id for r in await service.list_rooms()}
                info["active_rooms"] = {  # conference ID -> callers in it now
                    ids.get(room, bridge_name(room)): count
                    for room, count in live.tracker.counts().items()
                }
                if live.trunk is not None:
                    info["trunk"] = live.trunk.state.as_json()
            else:
                # No AMI login for us: ask the console, which takes no AMI slot, who is
                # logged in. The bot (serve) logged in: AMI works, new logins are refused.
                users = await asyncio.to_thread(ami_users, cfg.run_dir, settings.environ)
                if users is not None:
                    info["ami_sessions"] = users
                    info["ami"] = "busy" if users else "down"
    return info


def ami_users(run: Path, environ: Mapping[str, str]) -> list[str] | None:
    """Who is logged in to AMI, as Asterisk's console tells (``manager show connected``
    through its control socket): no AMI slot needed, so it answers while a flood of
    unauthenticated connections keeps new logins out. None if the console cannot be asked."""
    try:
        install = ensure_prefix(None, environ=environ)
        text = run_cli(install, run, "manager show connected", timeout=5.0)
    except DeployError as exc:
        log.debug("could not ask the PBX's console: %s", exc)
        return None
    users = []
    for line in text.splitlines():  # a header, one line per session, "N users connected."
        fields = line.split()
        if len(fields) > 1 and fields[0] != "Username" and not fields[0].isdigit():
            users.append(fields[0])
    return users


async def start_pbx(
    settings: Settings, service: ConferenceService, say: Callable[[str], object]
) -> dict[str, Any]:
    """Start Asterisk in the background (unless it runs already) and sync the rooms to it."""
    cfg = pbx_config(settings)
    if not is_running(settings):
        install = await asyncio.to_thread(ensure_prefix, None)
        say(f"Starting {install.version} on {cfg.bind_address} ...")
        await asyncio.to_thread(partial(start_detached, cfg, install, environ=settings.environ))
    else:
        say("The PBX is already running.")
    async with live_pbx(settings, service) as live:
        if live is None:
            raise PbxUnavailable(
                f"Asterisk started but its AMI did not answer; see {cfg.log_dir}/messages"
            )
        # connecting resynced AstDB (live_pbx waits for that)
    info = await status_dict(settings, service)
    return info


async def stop_pbx(settings: Settings) -> bool:
    return await asyncio.to_thread(stop_detached, run_dir(settings))


async def cmd_pbx_start(ctx: Context, args: argparse.Namespace) -> int:
    info = await start_pbx(ctx.settings, ctx.service, say=ctx.say)
    ctx.print(
        f"PBX running (pid {info['pid']}): SIP on {info['bind_address']}:{info['sip_port']}, "
        f"AMI on port {info['ami_port']}."
    )
    return 0


async def cmd_pbx_stop(ctx: Context, args: argparse.Namespace) -> int:
    if await stop_pbx(ctx.settings):
        ctx.print("PBX stopped.")
    else:
        ctx.print("The PBX was not running.")
    return 0


async def cmd_pbx_status(ctx: Context, args: argparse.Namespace) -> int:
    info = await status_dict(ctx.settings, ctx.service)
    if args.json:
        ctx.json(info)
        return exits.OK if info["running"] else exits.PBX_NOT_RUNNING
    if not info["running"]:
        ctx.print("PBX: not running (start it: conference-bot pbx start)")
        return exits.PBX_NOT_RUNNING
    ami = info["ami"]
    if ami == "busy":
        ami = ("busy: the bot is logged in, but this command could not log in (too many "
               "unauthenticated AMI connections?)")  # fmt: skip
    ctx.print(f"PBX:       running, pid {info['pid']}, AMI {ami}")
    ctx.print(f"Asterisk:  {info['asterisk_version'] or 'unknown'}")
    for item in info["listeners"]:
        where = f"{item['address']}:{item['port']}"
        note = "" if item["public"] else " (this machine only)"
        ctx.print(f"{item['service'].upper() + ':':<10} {item['protocol']} {where}{note}")
    if info["external_address"]:
        ctx.print(f"NAT:       seen from outside as {info['external_address']}")
    ctx.print(f"Extension: {info['extension'] or '(no conference server set up)'}")
    active = info["active_rooms"]
    ctx.print(f"Calls:     {sum(active.values())} callers in {len(active)} rooms")
    ctx.print(f"Trunk:     {trunk_text(info['trunk'])}")
    return 0


def trunk_text(trunk: dict[str, Any] | None) -> str:
    """The registration trunk of ``status_dict`` in one line (values escaped)."""
    if trunk is None:
        return "no registration trunk (PBX_TRUNK_REGISTRAR)"
    state = TrunkStatus(trunk["state"])
    where = printable(str(trunk.get("registrar") or "the provider"))
    if state is TrunkStatus.UNKNOWN:
        return f"{where}: unknown (the PBX is offline)"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(trunk["since"]))
    if state is TrunkStatus.REGISTERED:
        user = printable(str(trunk.get("user") or ""))
        return f"registered to {where}" + (f" as {user}" if user else "") + f" since {since}"
    if state is TrunkStatus.REGISTERING:
        return f"registering to {where} (no answer yet)"
    reason = printable(str(trunk.get("reason") or "reason unknown"))
    retry = trunk.get("retry_interval")
    again = f"; retrying every {retry} s" if retry and state is not TrunkStatus.STOPPED else ""
    return f"{state.value} ({reason}) at {where} since {since}{again}"


# -- pbx sync: bring AstDB up to date, by hand or in the background -------------------------

SYNC_LOCK = "astdb-sync.lock"  # in the run dir: one background sync at a time
SYNC_LOG = "conference-bot.log"  # in the data dir, as the CLI's error reports


async def sync_pbx(settings: Settings, service: ConferenceService, wait: float | None) -> bool:
    """Write the rooms and the server to the running PBX, and wait until it has confirmed
    them and every change committed meanwhile (by any process): True once it has; False if
    not within ``wait`` seconds (``None``: for as long as that PBX runs)."""
    loop = asyncio.get_running_loop()
    deadline = None if wait is None else loop.time() + wait
    tel = telephony_for(pbx_config(settings), service)
    await tel.ami.start()
    tel.sync.watch()  # changes of other processes (a CLI that gave up) while we wait
    started = next_note = loop.time()
    try:
        while True:
            left = 1.0 if deadline is None else min(1.0, deadline - loop.time())
            if left > 0 and await tel.sync.settle(left):
                # Up to date; one more look at the database before calling it done.
                await asyncio.sleep(2 * WATCH_INTERVAL)
                if tel.sync.up_to_date:
                    return True
            elif not is_running(settings) or (deadline is not None and loop.time() >= deadline):
                return False
            elif loop.time() >= next_note:
                next_note = loop.time() + 60
                log.warning("pbx sync: the PBX has not confirmed the rooms yet (AMI %s, %.0f s); "
                            "still trying", tel.ami.state.value, loop.time() - started)  # fmt: skip
    finally:
        await tel.ami.close()
        await tel.sync.close()
        if tel.trunk is not None:
            await tel.trunk.close()


def start_background_sync(settings: Settings) -> tuple[int, Path]:
    """``conference-bot pbx sync --background`` in a session of its own, logging to the data
    dir: it outlives this command and applies what the PBX has not confirmed as soon as it
    answers. Returns its pid and log file."""
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    log_file = settings.data_dir / SYNC_LOG
    argv = [sys.executable, "-m", "bot", "--db", str(settings.db_path.absolute()),
            "pbx", "sync", "--background"]  # fmt: skip
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
    # posix_spawn, not Popen: nothing here waits for it (it outlives this process).
    pid = os.posix_spawn(sys.executable, argv, os.environ, setsid=True, file_actions=[
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, str(log_file), flags, 0o600),
    ])  # fmt: skip
    return pid, log_file


async def cmd_pbx_sync(ctx: Context, args: argparse.Namespace) -> int:
    if not is_running(ctx.settings):
        ctx.print("The PBX is not running: it gets the rooms when it starts (pbx start, serve).")
        return exits.PBX_NOT_RUNNING
    started = time.monotonic()
    if args.background:
        # One at a time; the next waits, then covers whatever is still missing.
        lock = os.open(run_dir(ctx.settings) / SYNC_LOCK, os.O_WRONLY | os.O_CREAT, 0o600)
        await asyncio.to_thread(fcntl.flock, lock, fcntl.LOCK_EX)
        log.info("pbx sync (pid %d): applying what the PBX has not confirmed", os.getpid())
    done = await sync_pbx(ctx.settings, ctx.service, None if args.background else args.wait)
    took = time.monotonic() - started
    if done:
        log.info("pbx sync: the PBX is up to date (%.1f s)", took)
        ctx.print(f"The PBX is up to date with the rooms and the server ({took:.1f} s).")
        return exits.OK
    if not is_running(ctx.settings):
        log.warning("pbx sync: the PBX stopped; it gets the rooms when it starts again")
        ctx.print("The PBX stopped: it gets the rooms when it starts again (pbx start, serve).")
        return exits.PBX_NOT_RUNNING
    ctx.print(f"The PBX did not confirm the rooms within {took:.0f} s: it still has old "
              "settings. Try again once it answers.")  # fmt: skip
    return exits.NOT_APPLIED


def register(groups: Any) -> None:
    pbx_group = groups.add_parser("pbx", help="start, stop or check the bundled Asterisk PBX")
    x = pbx_group.add_subparsers(dest="action", metavar="ACTION", required=True)
    command(x, "start", cmd_pbx_start, "start Asterisk in the background and sync the rooms to it")
    command(x, "stop", cmd_pbx_stop, "stop Asterisk (callers are disconnected)")
    json_flag(command(x, "status", cmd_pbx_status, "is it running, on which ports"))
    p = command(x, "sync", cmd_pbx_sync, "write the rooms and the server to the running PBX, "
                "and wait until it confirms them")  # fmt: skip
    p.add_argument("--wait", type=seconds, default=DEFAULT_WAIT, metavar="SECONDS",
                   help=f"how long to wait for the PBX (default {DEFAULT_WAIT:g})")  # fmt: skip
    # Started by a command whose change the PBX did not confirm: until applied, into a log.
    p.add_argument("--background", action="store_true", help=argparse.SUPPRESS)
