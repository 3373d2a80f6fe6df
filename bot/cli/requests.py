"""``conference-bot requests list|approve|deny``: deletion requests filed from Slack."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from bot.cli.output import Context, table
from bot.cli.parsing import command, json_flag, positive
from bot.text import printable


async def cmd_requests_list(ctx: Context, args: argparse.Namespace) -> int:
    requests = await ctx.service.list_requests()
    if args.json:
        ctx.json([asdict(r) for r in requests])
        return 0
    if not requests:
        ctx.print("No deletion requests.")
        return 0
    rows = [("#", "ROOM", "REQUESTER", "STATUS", "CREATED", "REASON")]
    rows += [
        (str(r.id), r.room_name, r.requester, r.status.value, r.created_at, r.reason)
        for r in requests
    ]
    ctx.print(table(rows))
    return 0


async def cmd_requests_approve(ctx: Context, args: argparse.Namespace) -> int:
    request, room = await ctx.service.approve_deletion(args.request, admin=ctx.actor)
    ctx.print(f'Request #{request.id} approved; room "{printable(room.name)}" deleted.')
    return 0


async def cmd_requests_deny(ctx: Context, args: argparse.Namespace) -> int:
    request = await ctx.service.deny_deletion(args.request, admin=ctx.actor)
    ctx.print(f'Request #{request.id} denied; room "{printable(request.room_name)}" stays.')
    return 0


def register(groups: Any) -> None:
    requests = groups.add_parser("requests", help="decide deletion requests filed from Slack")
    q = requests.add_subparsers(dest="action", metavar="ACTION", required=True)
    json_flag(command(q, "list", cmd_requests_list, "list deletion requests"))
    p = command(
        q, "approve", cmd_requests_approve, "approve a request: the room is deleted",
        live=True, changes_pbx=True,
    )  # fmt: skip
    p.add_argument("request", type=positive, metavar="N", help="request number")
    p = command(q, "deny", cmd_requests_deny, "deny a request: the room stays")
    p.add_argument("request", type=positive, metavar="N", help="request number")
