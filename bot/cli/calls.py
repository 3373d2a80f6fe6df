"""``conference-bot rooms mute|unmute|mute-all|kick|lock|unlock|record|end``: actions on a
room's live call.

The service decides and audits (``bot.service.calls``); the running PBX's actions reach it
through ``bot.wiring.call_control``. Each command reports done only once Asterisk confirmed
it, and fails (exit 1, the reason on stderr) when the PBX is not running, the room is empty
or the caller is not in it.
"""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.output import Context
from bot.cli.parsing import command
from bot.text import printable
from bot.wiring import call_control

CALLER_HELP = "the caller's number or ID as `rooms participants` shows it, or its channel"


async def cmd_rooms_mute(ctx: Context, args: argparse.Namespace) -> int:
    muted = args.action == "mute"
    person = await ctx.service.mute_caller(
        args.room, args.caller, muted=muted, calls=call_control(ctx.live), actor=ctx.actor
    )
    ctx.print(f"{printable(person.caller)} is {'muted' if muted else 'unmuted'}.")
    return 0


async def cmd_rooms_kick(ctx: Context, args: argparse.Namespace) -> int:
    person = await ctx.service.kick_caller(
        args.room, args.caller, calls=call_control(ctx.live), actor=ctx.actor
    )
    ctx.print(f"{printable(person.caller)} was removed from the call.")
    return 0


async def cmd_rooms_lock(ctx: Context, args: argparse.Namespace) -> int:
    locked = args.action == "lock"
    room = await ctx.service.lock_call(
        args.room, locked=locked, calls=call_control(ctx.live), actor=ctx.actor
    )
    if locked:
        ctx.print(f'The call in "{printable(room.name)}" is locked: nobody else can join.')
    else:
        ctx.print(f'The call in "{printable(room.name)}" is unlocked.')
    return 0


async def cmd_rooms_mute_all(ctx: Context, args: argparse.Namespace) -> int:
    count = await ctx.service.mute_others(args.room, calls=call_control(ctx.live),
                                          actor=ctx.actor)  # fmt: skip
    if count:
        ctx.print(f"{count} caller{'' if count == 1 else 's'} muted; moderators can still talk.")
    else:
        ctx.print("Nobody to mute: everyone but the moderators was muted already.")
    return 0


async def cmd_rooms_record(ctx: Context, args: argparse.Namespace) -> int:
    start = args.change == "start"
    recording = await ctx.service.record_call(
        args.room, start, calls=call_control(ctx.live), actor=ctx.actor
    )
    path = printable(recording.path) if recording else "a file the bot does not know"
    if start:
        ctx.print(f"Recording started (everyone in the call is told): {path}")
    else:
        ctx.print(f"Recording stopped: {path}")
    return 0


async def cmd_rooms_end(ctx: Context, args: argparse.Namespace) -> int:
    count = await ctx.service.end_call(args.room, calls=call_control(ctx.live), actor=ctx.actor)
    ctx.print(f"Call ended: {count} caller{'' if count == 1 else 's'} removed.")
    return 0


def register(r: Any) -> None:
    """Add the live-call actions to the ``rooms`` group's subparsers ``r``."""
    for name, help_text in (("mute", "mute a caller"), ("unmute", "unmute a caller")):
        p = command(r, name, cmd_rooms_mute, f"{help_text} in a room's live call", live=True)
        p.add_argument("room", metavar="ROOM", help="name or conference ID")
        p.add_argument("caller", metavar="CALLER", help=CALLER_HELP)
    p = command(r, "kick", cmd_rooms_kick, "hang up on a caller in a room's live call", live=True)
    p.add_argument("room", metavar="ROOM", help="name or conference ID")
    p.add_argument("caller", metavar="CALLER", help=CALLER_HELP)
    for name, help_text in (
        ("lock", "lock a room's live call: the next callers are turned away"),
        ("unlock", "unlock a room's live call"),
    ):
        p = command(r, name, cmd_rooms_lock, help_text, live=True)
        p.add_argument("room", metavar="ROOM", help="name or conference ID")
    p = command(r, "mute-all", cmd_rooms_mute_all,
                "mute everyone in a room's live call but the moderators", live=True)  # fmt: skip
    p.add_argument("room", metavar="ROOM", help="name or conference ID")
    p = command(r, "record", cmd_rooms_record,
                "start or stop recording a room's live call (everyone is told)",
                live=True)  # fmt: skip
    p.add_argument("room", metavar="ROOM", help="name or conference ID")
    p.add_argument("change", choices=["start", "stop"], help="start or stop")
    p = command(r, "end", cmd_rooms_end, "end a room's live call for everyone", live=True)
    p.add_argument("room", metavar="ROOM", help="name or conference ID")
