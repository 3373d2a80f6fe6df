"""``conference-bot server show|setup|delete``: the conference server."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from bot.cli.output import Context, confirm
from bot.cli.parsing import command, json_flag
from bot.models import Server
from bot.rules import DEFAULT_EXTENSION
from bot.text import printable


def server_lines(server: Server) -> list[str]:
    return [
        f"Extension:    {server.extension}",
        f"Phone number: {server.phone_number or '(none assigned)'}",
        f"Created:      {server.created_at} by {printable(server.created_by)}",
        f"Last change:  {server.updated_at} by {printable(server.updated_by)}",
    ]


async def cmd_server_show(ctx: Context, args: argparse.Namespace) -> int:
    server = await ctx.service.get_server()
    if args.json:
        ctx.json(asdict(server) if server else None)
        return 0
    if server is None:
        ctx.print(
            "No conference server yet. Create one: conference-bot server setup --extension 800"
        )
        return 0
    rooms = await ctx.service.list_rooms()
    ctx.print("\n".join(server_lines(server)))
    ctx.print(f"Rooms:        {len(rooms)} of {ctx.service.max_rooms}")
    return 0


async def cmd_server_setup(ctx: Context, args: argparse.Namespace) -> int:
    before = await ctx.service.get_server()
    server = await ctx.service.setup_server(args.extension, ctx.actor)
    if before is None:
        ctx.print(f"Conference server created on extension {server.extension}.")
    else:
        ctx.print(f"Conference server extension is now {server.extension}.")
    return 0


async def cmd_server_delete(ctx: Context, args: argparse.Namespace) -> int:
    await ctx.service.require_server()
    if not confirm(ctx, "Delete the conference server?", args.yes):
        ctx.print("Nothing deleted.")
        return 1
    await ctx.service.delete_server(ctx.actor)
    ctx.print("Conference server deleted.")
    return 0


def register(groups: Any) -> None:
    server = groups.add_parser("server", help="show, set up or delete the conference server")
    s = server.add_subparsers(dest="action", metavar="ACTION", required=True)
    json_flag(command(s, "show", cmd_server_show, "show the conference server"))
    p = command(
        s, "setup", cmd_server_setup, "create the server, or change its extension",
        live=True, changes_pbx=True,
    )  # fmt: skip
    p.add_argument(
        "--extension",
        default=DEFAULT_EXTENSION,
        help=f"2 to 6 digits (default {DEFAULT_EXTENSION})",
    )
    p = command(
        s,
        "delete",
        cmd_server_delete,
        "delete the server (only once it has no rooms and no phone number)",
        live=True,
        changes_pbx=True,
    )
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
