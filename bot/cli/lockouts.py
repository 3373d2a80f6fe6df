"""``conference-bot lockouts list|clear``: callers the PBX refuses after too many wrong PINs
or unknown conference IDs, and rooms whose PIN entry an admin locked.

The dialplan sets and enforces them in Asterisk's AstDB (``telephony.lockouts``), so these
commands need the PBX running; they read and clear the entries over AMI. Every clear is
audited with who ran it.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from bot.cli.output import Context, table
from bot.cli.parsing import command, json_flag
from bot.errors import InvalidInput
from bot.models import Room
from telephony.errors import PbxUnavailable
from telephony.lockout_monitor import minutes, room_label
from telephony.lockouts import Cleared, Lockout, LockoutStore, RoomWatch, Scope
from telephony.naming import CALLER_SEPARATOR, caller_number, endpoint_name

NOT_RUNNING = (
    "The PBX is not running, and lockouts are kept inside it (start it: conference-bot pbx start)."
)


def _store(ctx: Context) -> LockoutStore:
    if ctx.live is None:
        raise PbxUnavailable(NOT_RUNNING)
    return ctx.live.lockouts


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _left(until: float, now: float) -> str:
    seconds = max(0, round(until - now))
    return f"{seconds} s" if seconds < 120 else minutes(seconds // 60 * 60)


def _room_json(rooms: dict[int, Room], room_id: int | None) -> dict[str, Any]:
    room = rooms.get(room_id) if room_id is not None else None
    return {
        "room_id": room_id,
        "room": room.name if room else None,
        "conference_id": room.conference_id if room else None,
    }


def _lockout_json(lockout: Lockout, rooms: dict[int, Room], now: float) -> dict[str, Any]:
    assert lockout.until is not None
    return {
        "scope": lockout.scope.value,
        **_room_json(rooms, lockout.room_id),
        "caller": lockout.caller,
        "endpoint": lockout.endpoint,
        "caller_key": lockout.caller_key,
        "since": _iso(lockout.since),
        "until": _iso(lockout.until),
        "expires_in": max(0, round(lockout.until - now)),
    }


def _room_lock_json(watch: RoomWatch, rooms: dict[int, Room], now: float) -> dict[str, Any]:
    assert watch.locked_until is not None
    return {
        "scope": Scope.ROOM.value,
        **_room_json(rooms, watch.room_id),
        "caller": None,
        "endpoint": None,
        "caller_key": None,
        "since": None,
        "until": _iso(watch.locked_until),
        "expires_in": max(0, round(watch.locked_until - now)),
    }


def _where(rooms: dict[int, Room], room_id: int | None) -> str:
    if room_id is None:
        return "every conference ID"
    room = rooms.get(room_id)
    return f"{room.name} ({room.conference_id})" if room else f"room #{room_id} (deleted)"


async def cmd_lockouts_list(ctx: Context, args: argparse.Namespace) -> int:
    store = _store(ctx)
    tree, now = await store.read(), store.now()
    rooms = {r.id: r for r in await ctx.service.list_rooms()}
    lockouts, locked = tree.active(now), tree.locked_rooms(now)
    if args.json:
        ctx.json([_lockout_json(c, rooms, now) for c in lockouts]
                 + [_room_lock_json(r, rooms, now) for r in locked])  # fmt: skip
        return 0
    if not lockouts and not locked:
        ctx.print("No lockouts in force.")
        return 0
    rows = [("WHO", "LOCKED OUT OF", "WHY", "UNTIL", "LEFT")]
    why = {Scope.PIN: "wrong PINs", Scope.ID: "unknown conference IDs"}
    rows += [(c.who, _where(rooms, c.room_id), why.get(c.scope, c.scope.value),
              _iso(c.until) or "", _left(c.until or now, now)) for c in lockouts]  # fmt: skip
    rows += [("everyone", f"PIN entry of {_where(rooms, r.room_id)}", "locked by an admin",
              _iso(r.locked_until) or "", _left(r.locked_until or now, now))
             for r in locked]  # fmt: skip
    ctx.print(table(rows))
    ctx.print("Clear: conference-bot lockouts clear --caller CALLER | --room ROOM | --all")
    return 0


def _caller(value: str) -> str:
    """What ``--caller`` may name: a caller ID number, a phone account or trunk, or both as
    ``ENDPOINT~NUMBER`` (what ``lockouts list --json`` calls ``caller_key``)."""
    text = value.strip()
    endpoint, sep, number = text.partition(CALLER_SEPARATOR)
    if sep:
        fits = endpoint_name(endpoint) == endpoint and caller_number(number) == number
    else:
        fits = text in (caller_number(text), endpoint_name(text))
    if not text or not fits:
        raise argparse.ArgumentTypeError(
            f"expected a caller ID number, a phone account or ENDPOINT~NUMBER, got {value!r}"
        )
    return text


def _describe(cleared: Cleared, rooms: dict[int, Room]) -> str:
    parts = [f"{c.who} from {_where(rooms, c.room_id)}" for c in cleared.lockouts]
    parts += [f"the admins' lock of {_where(rooms, r.room_id)}" for r in cleared.rooms]
    if not parts:
        return "no lockout was in force" + (
            f" ({cleared.entries} counters of failures reset)" if cleared.entries else ""
        )
    return "lifted " + "; ".join(parts)


async def cmd_lockouts_clear(ctx: Context, args: argparse.Namespace) -> int:
    if args.all and (args.room or args.caller):
        raise InvalidInput("--all clears everything: give it alone, without --room or --caller.")
    if not (args.all or args.room or args.caller):
        raise InvalidInput("Say what to clear: --caller CALLER, --room ROOM (or both), or --all.")
    store = _store(ctx)
    rooms = {r.id: r for r in await ctx.service.list_rooms()}
    room = await ctx.service.get_room(args.room) if args.room else None
    if args.all:
        cleared, target = await store.clear_all(), "every lockout"
    else:
        cleared = await store.clear(room_id=room.id if room else None, caller=args.caller)
        named = ([f"caller {args.caller}"] if args.caller else []) + (
            [room_label(room, None)] if room else []
        )
        target = " in ".join(named)
    summary = f"Cleared {target}: {_describe(cleared, rooms)}"
    await ctx.service.record(ctx.actor, "lockout.cleared", target, summary)
    ctx.print(f"{summary}.")
    return 0


def register(groups: Any) -> None:
    lockouts = groups.add_parser(
        "lockouts",
        help="callers refused after too many wrong PINs or conference IDs: list or clear",
    )
    x = lockouts.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = "the lockouts in force: who, for which room, until when"
    json_flag(command(x, "list", cmd_lockouts_list, listing, live=True))
    clearing = "let callers in again: one caller, one room, both, or --all"
    p = command(x, "clear", cmd_lockouts_clear, clearing, live=True)
    p.add_argument("--room", metavar="ROOM", help="a room's name or conference ID")
    p.add_argument("--caller", type=_caller, metavar="CALLER",
                   help="a caller ID number (+15551234567), a phone account (alice), "
                   "or ENDPOINT~NUMBER as lockouts list --json shows")  # fmt: skip
    p.add_argument("--all", action="store_true", help="clear every lockout and counter")
