"""``conference-bot pbx start|stop|status``: the bundled Asterisk, run in the background.

The process is deploy's (``deploy.daemon``, ``deploy.pidfile``); its settings and the live
connection come from ``bot.wiring``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from bot import exits
from bot.cli.output import Context
from bot.cli.parsing import command, json_flag
from bot.config import Settings
from bot.service import ConferenceService
from bot.text import printable
from bot.wiring import is_running, live_pbx, pbx_config, run_dir
from deploy.daemon import start_detached, stop_detached
from deploy.pidfile import running_listeners
from deploy.pidfile import status as process_status
from deploy.prefix import ensure_prefix
from telephony.errors import PbxUnavailable
from telephony.naming import bridge_name
from telephony.registration import TrunkStatus


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
    return info


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
    ctx.print(f"PBX:       running, pid {info['pid']}, AMI {info['ami']}")
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


def register(groups: Any) -> None:
    pbx_group = groups.add_parser("pbx", help="start, stop or check the bundled Asterisk PBX")
    x = pbx_group.add_subparsers(dest="action", metavar="ACTION", required=True)
    command(x, "start", cmd_pbx_start, "start Asterisk in the background and sync the rooms to it")
    command(x, "stop", cmd_pbx_stop, "stop Asterisk (callers are disconnected)")
    json_flag(command(x, "status", cmd_pbx_status, "is it running, on which ports"))
