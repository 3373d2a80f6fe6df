"""``conference-bot number assign|unassign``: the server's phone number."""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.output import Context
from bot.cli.parsing import command


async def cmd_number_assign(ctx: Context, args: argparse.Namespace) -> int:
    server = await ctx.service.assign_number(args.number, ctx.actor)
    ctx.print(f"Phone number {server.phone_number} now reaches extension {server.extension}.")
    return 0


async def cmd_number_unassign(ctx: Context, args: argparse.Namespace) -> int:
    before = await ctx.service.require_server()
    await ctx.service.unassign_number(ctx.actor)
    ctx.print(f"Phone number {before.phone_number} unassigned.")
    return 0


def register(groups: Any) -> None:
    number = groups.add_parser("number", help="assign or unassign the server's phone number")
    n = number.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = command(n, "assign", cmd_number_assign, "assign (or replace) the phone number",
                live=True, changes_pbx=True)  # fmt: skip
    p.add_argument("number", help="E.164 form, for example +15551234567")
    command(
        n, "unassign", cmd_number_unassign, "unassign the phone number", live=True, changes_pbx=True
    )
