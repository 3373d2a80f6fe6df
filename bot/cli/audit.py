"""``conference-bot audit``: who changed what, and when."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from bot.cli.output import Context
from bot.cli.parsing import command, json_flag, positive
from bot.text import printable


async def cmd_audit(ctx: Context, args: argparse.Namespace) -> int:
    entries = list(reversed(await ctx.service.audit_log(args.limit)))  # oldest first
    if args.json:
        ctx.json([asdict(e) for e in entries])
        return 0
    if not entries:
        ctx.print("The audit log is empty.")
        return 0
    for e in entries:
        ctx.print("  ".join(printable(v) for v in (e.at, e.actor, e.action, e.summary)))
    return 0


def register(groups: Any) -> None:
    p = command(groups, "audit", cmd_audit, "show the latest changes, oldest first")
    p.add_argument("--limit", type=positive, default=50, help="how many entries (default 50)")
    json_flag(p)
