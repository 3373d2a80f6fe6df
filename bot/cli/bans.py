"""``conference-bot bans list|clear``: sources of bad phone logins that the PBX refuses.

``serve`` bans them (``telephony.bans``); the list lives in the PBX's run dir
(``deploy.bans``), so these commands work whether or not the PBX runs. Lifting a ban is
audited, and applied at once when the PBX runs (an AMI reload of its ACL).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from bot.cli.output import Context, table
from bot.cli.parsing import command, json_flag
from bot.errors import NotFound
from bot.wiring import is_running, run_dir
from deploy.bans import Ban, BanFile, parse_key
from telephony.bans import reload_bans
from telephony.errors import PbxActionFailed, PbxUnavailable


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _left(ban: Ban, now: float) -> str:
    seconds = round(ban.until - now)
    if seconds <= 0:
        return "ran out (lifted when serve runs)"
    if seconds < 120:
        return f"{seconds} s"
    return (
        f"{seconds // 60} min"
        if seconds < 7200
        else f"{seconds // 3600} h {seconds % 3600 // 60} min"
    )


def _as_json(ban: Ban, now: float) -> dict[str, Any]:
    return {
        "address": ban.address,
        "since": _iso(ban.since),
        "until": _iso(ban.until),
        "active": ban.active(now),
        "expires_in": max(0, round(ban.until - now)),
        "failures": ban.failures,
        "accounts": list(ban.accounts),  # what the source tried: its own text
    }


async def cmd_bans_list(ctx: Context, args: argparse.Namespace) -> int:
    bans = await asyncio.to_thread(BanFile(run_dir(ctx.settings)).load)
    now = time.time()
    if args.json:
        ctx.json([_as_json(b, now) for b in bans])
        return 0
    if not bans:
        ctx.print("No bans.")
        return 0
    rows = [("ADDRESS", "BANNED AT", "UNTIL", "LEFT", "FAILURES", "ACCOUNTS TRIED")]
    rows += [(b.address, _iso(b.since), _iso(b.until), _left(b, now), str(b.failures),
              ", ".join(b.accounts) or "-") for b in bans]  # fmt: skip
    ctx.print(table(rows))
    return 0


async def cmd_bans_clear(ctx: Context, args: argparse.Namespace) -> int:
    keys = None if args.all else [args.address]
    lifted = await asyncio.to_thread(BanFile(run_dir(ctx.settings)).remove, keys)
    if not lifted:
        if args.all:
            ctx.print("No bans to lift.")
            return 0
        raise NotFound(f"{args.address} is not banned (see: conference-bot bans list).")
    for ban in lifted:
        await ctx.service.record(ctx.actor, "ban.clear", ban.address, "Ban lifted")
    names = ", ".join(b.address for b in lifted)
    if not is_running(ctx.settings):
        ctx.print(f"Lifted the ban on {names}. (The PBX is not running; it starts without it.)")
        return 0
    if ctx.live is not None:
        try:
            await reload_bans(ctx.live.ami)
        except (PbxUnavailable, PbxActionFailed):
            pass
        else:
            ctx.print(f"Lifted the ban on {names}; the PBX serves it again.")
            return 0
    ctx.print(f"Lifted the ban on {names}.")
    ctx.say(
        "warning: the PBX did not reload its ban list, so it still refuses that source; "
        "serve reloads it when it reconnects, or restart the PBX (conference-bot pbx stop, "
        "then pbx start)."
    )
    return 0


def _ban_key(value: str) -> str:
    key = parse_key(value)
    if key is None:
        raise argparse.ArgumentTypeError(f"expected an IP address (or an IPv6 /64), got {value!r}")
    return key


def register(groups: Any) -> None:
    bans = groups.add_parser(
        "bans", help="sources of bad phone logins that the PBX refuses: list or lift bans"
    )
    b = bans.add_subparsers(dest="action", metavar="ACTION", required=True)
    json_flag(command(b, "list", cmd_bans_list, "list the banned sources and until when"))
    p = command(b, "clear", cmd_bans_clear, "lift a ban (or every ban with --all)", live=True)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("address", nargs="?", type=_ban_key, metavar="ADDRESS",
                       help="the banned address (an IPv6 ban covers its /64)")  # fmt: skip
    which.add_argument("--all", action="store_true", help="lift every ban")
