"""``conference-bot rooms list|show|owners|participants|create|edit|delete``; the actions on a
live call (``mute``, ``kick``, ``lock``, ``end``, ...) are ``bot.cli.calls``'s."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime
from typing import Any

from bot.cli import calls
from bot.cli.output import Context, confirm, table
from bot.cli.parsing import command, json_flag
from bot.models import Room
from bot.rules import LANGUAGES, OWNER_PREFIX
from bot.service.audit_text import OPTION_TEXT
from bot.text import printable
from telephony.errors import PbxUnavailable


def pin_arg(value: str | None, label: str = "PIN") -> str | None:
    """``--pin -`` reads the PIN from a hidden prompt (or stdin in scripts), so it stays out
    of shell history and ``ps``. ``--moderator-pin -`` likewise; with both, a script gives
    the PIN on the first line and the moderator PIN on the second."""
    if value != "-":
        return value
    if sys.stdin.isatty():
        return getpass.getpass(f"{label} (4 to 10 digits; empty for none): ")
    return sys.stdin.readline().strip()


# The call options' flags (--wait-for-moderator / --no-wait-for-moderator, ...), by Room field.
OPTION_FLAGS = {
    "wait_for_moderator": "callers hear music until a moderator joins",
    "end_with_moderator": "the call ends for everyone when the last moderator leaves",
    "start_muted": "callers (not moderators) join muted",
    "lobby": "ask an owner in Slack before letting each caller in",
    "join_notes": "post join/leave notes in the thread of the room's dial-in card",
}


def _options_given(args: argparse.Namespace) -> dict[str, bool]:
    """The call options the command line turned on or off (left out: not given)."""
    return {name: getattr(args, name) for name in OPTION_FLAGS if getattr(args, name) is not None}


def _option_flags(p: argparse.ArgumentParser, *, creating: bool) -> None:
    default = " (default: off)" if creating else ""
    for name, help_text in OPTION_FLAGS.items():
        flag = "--" + name.replace("_", "-")
        p.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None,
                       help=help_text + default)  # fmt: skip


def _room_lines(room: Room, *, show_pin: bool) -> list[str]:
    if room.pin is None:
        pin = "none"
    else:
        pin = room.pin if show_pin else "set (add --show-pin to see it)"
    if room.moderator_pin is None:
        modpin = "none"
    else:
        modpin = room.moderator_pin if show_pin else "set (add --show-pin to see it)"
    options = "; ".join(OPTION_TEXT[name][0] for name, on in room.options().items() if on)
    return [
        f"Name:          {printable(room.name)}",
        f"Conference ID: {room.conference_id}",
        f"PIN:           {pin}",
        f"Moderator PIN: {modpin}",
        f"Options:       {options or 'none'}",
        f"Limit:         {room.max_participants} participants",
        f"Prompts:       {LANGUAGES[room.language]} ({room.language})",
        f"Created:       {room.created_at} by {printable(room.created_by)}",
        f"Last change:   {room.updated_at} by {printable(room.updated_by)}",
    ]


async def cmd_rooms_list(ctx: Context, args: argparse.Namespace) -> int:
    rooms = await ctx.service.list_rooms()
    tracker = ctx.live.tracker if ctx.live else None
    if args.json:
        ctx.json(
            [
                {
                    "name": r.name,
                    "conference_id": r.conference_id,
                    "has_pin": r.has_pin,
                    "max_participants": r.max_participants,
                    "language": r.language,
                    "participants": tracker.count(r.id) if tracker else None,
                }
                for r in rooms
            ]
        )
        return 0
    if not rooms:
        ctx.print('No rooms yet. Create one: conference-bot rooms create --name "Team" --id 1234')
        return 0
    rows = [("NAME", "CONFERENCE ID", "PIN", "LIMIT", "LANGUAGE", "IN CALL")]
    rows += [
        (
            r.name,
            r.conference_id,
            "yes" if r.has_pin else "no",
            str(r.max_participants),
            r.language,
            str(tracker.count(r.id)) if tracker else "-",
        )
        for r in rooms
    ]
    ctx.print(table(rows))
    ctx.print(f"\n{len(rooms)} of {ctx.service.max_rooms} rooms.")
    if tracker is None:
        ctx.print("PBX offline: no live participant counts (start it: conference-bot pbx start).")
    return 0


async def cmd_rooms_participants(ctx: Context, args: argparse.Namespace) -> int:
    room = await ctx.service.get_room(args.room)
    if ctx.live is None:
        raise PbxUnavailable(
            "The PBX is not running, so nobody is in a call. Start it: conference-bot pbx start"
        )
    people = ctx.live.tracker.participants(room.id)
    state = ctx.live.tracker.room_state(room.id)
    if args.json:
        # A list of callers (each with the same keys as the table's columns), the room's
        # state on each: one shape whether or not anyone is in the call.
        ctx.json(
            [
                {
                    "caller": p.caller,
                    "caller_id_num": p.caller_id_num,
                    "caller_id_name": p.caller_id_name,
                    "channel": p.channel,
                    "uniqueid": p.uniqueid,
                    "joined_at": datetime.fromtimestamp(p.joined_at, UTC).isoformat(
                        timespec="seconds"
                    ),
                    "muted": p.muted,
                    "talking": p.talking,
                    "moderator": p.moderator,
                    "room_locked": state.locked,
                    "room_recording": state.recording,
                }
                for p in people
            ]
        )
        return 0
    if not people:
        ctx.print(f'Nobody is in room "{printable(room.name)}" right now.')
        return 0
    rows = [("CALLER", "NUMBER", "JOINED", "MUTED", "TALKING", "MODERATOR", "CHANNEL")]
    rows += [
        (
            p.caller,
            p.caller_id_num if p.caller_id_num not in ("", "<unknown>") else "-",
            datetime.fromtimestamp(p.joined_at).strftime("%H:%M:%S"),
            "yes" if p.muted else "no",
            "yes" if p.talking else "no",
            "yes" if p.moderator else "no",
            p.channel,
        )
        for p in people
    ]
    ctx.print(table(rows))
    marks = [word for word, on in (("locked", state.locked), ("recording", state.recording))
             if on]  # fmt: skip
    ctx.print(f'\n{len(people)} of {room.max_participants} in "{printable(room.name)}"'
              f"{'; the call is ' + ' and '.join(marks) if marks else ''}.")  # fmt: skip
    return 0


async def cmd_rooms_show(ctx: Context, args: argparse.Namespace) -> int:
    room = await ctx.service.get_room(args.room)
    owners = [o.owner.removeprefix(OWNER_PREFIX) for o in await ctx.service.owners(room.id)]
    if args.json:
        data = room.public_dict()
        data["pin"] = room.pin
        if args.show_pin:  # only on request, unlike the PIN (older scripts read "pin")
            data["moderator_pin"] = room.moderator_pin
        data["owners"] = owners
        ctx.json(data)
        return 0
    ctx.print("\n".join(_room_lines(room, show_pin=args.show_pin)))
    shown = ", ".join(printable(o) for o in owners) or "none (the admins manage it)"
    ctx.print(f"Owners:        {shown}")
    return 0


async def cmd_rooms_owners(ctx: Context, args: argparse.Namespace) -> int:
    room = await ctx.service.get_room(args.room)
    if args.change == "add":
        added = await ctx.service.add_owner(room.id, args.user, actor=ctx.actor)
        who = added.owner.removeprefix(OWNER_PREFIX)
        ctx.print(f'{who} now owns room "{printable(room.name)}".')
    else:
        await ctx.service.remove_owner(room.id, args.user, actor=ctx.actor)
        ctx.print(f'{printable(args.user)} no longer owns room "{printable(room.name)}".')
    return 0


async def cmd_rooms_create(ctx: Context, args: argparse.Namespace) -> int:
    room = await ctx.service.create_room(
        name=args.name,
        conference_id=args.id,
        pin=pin_arg(args.pin),
        max_participants=args.max,
        language=args.language,
        actor=ctx.actor,
        moderator_pin=pin_arg(args.moderator_pin, "Moderator PIN"),
        options=_options_given(args),
    )
    pin = "with a PIN" if room.has_pin else "without a PIN"
    if room.has_moderator_pin:
        pin += " and a moderator PIN"
    name = printable(room.name)
    ctx.print(f'Room "{name}" created: conference ID {room.conference_id}, {pin}.')
    return 0


async def cmd_rooms_edit(ctx: Context, args: argparse.Namespace) -> int:
    changes: dict[str, Any] = {}
    if args.name is not None:
        changes["name"] = args.name
    if args.id is not None:
        changes["conference_id"] = args.id
    if args.no_pin:
        changes["pin"] = None
    elif args.pin is not None:
        changes["pin"] = pin_arg(args.pin)
    if args.max is not None:
        changes["max_participants"] = args.max
    if args.language is not None:
        changes["language"] = args.language
    if args.no_moderator_pin:
        changes["moderator_pin"] = None
    elif args.moderator_pin is not None:
        changes["moderator_pin"] = pin_arg(args.moderator_pin, "Moderator PIN")
    if options := _options_given(args):
        changes["options"] = options
    if not changes:
        ctx.err.write(
            "Nothing to change: give at least one of --name, --id, --pin, --no-pin, --max, "
            "--language, --moderator-pin, --no-moderator-pin or a call option such as "
            "--lobby/--no-lobby.\n"
        )
        return 2
    before = await ctx.service.get_room(args.room)
    # By its stable id from here on: a rename or re-numbering meanwhile (from Slack, another
    # shell) must not turn ROOM into another room.
    room = await ctx.service.update_room(before.id, actor=ctx.actor, **changes)
    if room == before:
        ctx.print(f'Room "{printable(room.name)}" already had those settings; nothing changed.')
    else:
        ctx.print(f'Room "{printable(room.name)}" updated.')
    return 0


async def cmd_rooms_delete(ctx: Context, args: argparse.Namespace) -> int:
    room = await ctx.service.get_room(args.room)
    if not confirm(ctx, f'Delete room "{room.name}" (ID {room.conference_id})?', args.yes):
        ctx.print("Nothing deleted.")
        return 1
    await ctx.service.delete_room(room.id, actor=ctx.actor)  # the room confirmed, by stable id
    ctx.print(f'Room "{printable(room.name)}" deleted.')
    return 0


def register(groups: Any) -> None:
    rooms = groups.add_parser(
        "rooms",
        help="list, show, create, edit or delete rooms; mute, kick, lock or end their calls",
    )
    r = rooms.add_subparsers(dest="action", metavar="ACTION", required=True)
    json_flag(command(r, "list", cmd_rooms_list, "list the rooms, with live counts", live=True))
    p = command(r, "show", cmd_rooms_show, "show one room")
    p.add_argument("room", metavar="ROOM", help="name or conference ID")
    p.add_argument("--show-pin", action="store_true", help="print the PIN itself")
    json_flag(p)
    p = command(r, "owners", cmd_rooms_owners, "add or remove an owner (a Slack member ID)")
    p.add_argument("room", metavar="ROOM", help="name or conference ID")
    p.add_argument("change", choices=["add", "remove"], help="add or remove")
    p.add_argument("user", metavar="USER", help="Slack member ID, for example U0123ABCD")
    p = command(r, "participants", cmd_rooms_participants, "who is in a room right now", live=True)
    p.add_argument("room", metavar="ROOM", help="name or conference ID")
    json_flag(p)
    calls.register(r)
    p = command(r, "create", cmd_rooms_create, "create a room", live=True, changes_pbx=True)
    p.add_argument("--name", required=True, help="1 to 64 characters, unique ignoring case")
    p.add_argument("--id", required=True, help="conference ID: 3 to 10 digits, unique")
    p.add_argument(
        "--pin", help="participant PIN: 4 to 10 digits, or - to type it unseen (default: none)"
    )
    p.add_argument("--max", default="10", help="participant limit, 1 to 10 (default 10)")
    p.add_argument("--language", default="en", help="prompt language: en or es (default en)")
    p.add_argument(
        "--moderator-pin", metavar="PIN",
        help="moderator PIN: 4 to 10 digits, not the PIN, or - to type it unseen "
        "(default: none); callers who key it in join as moderators",
    )  # fmt: skip
    _option_flags(p, creating=True)
    p = command(
        r, "edit", cmd_rooms_edit, "change a room's name, ID, PINs, limit or call options",
        live=True, changes_pbx=True,
    )  # fmt: skip
    p.add_argument("room", metavar="ROOM", help="name or conference ID")
    p.add_argument("--name", help="new name")
    p.add_argument("--id", help="new conference ID")
    pin = p.add_mutually_exclusive_group()
    pin.add_argument("--pin", help="new PIN (4 to 10 digits), or - to type it unseen")
    pin.add_argument("--no-pin", action="store_true", help="remove the PIN")
    p.add_argument("--max", help="new participant limit, 1 to 10")
    p.add_argument("--language", help="new prompt language: en or es")
    modpin = p.add_mutually_exclusive_group()
    modpin.add_argument(
        "--moderator-pin", metavar="PIN",
        help="new moderator PIN (4 to 10 digits, not the PIN), or - to type it unseen",
    )  # fmt: skip
    modpin.add_argument("--no-moderator-pin", action="store_true", help="remove it")
    _option_flags(p, creating=False)
    p = command(
        r, "delete", cmd_rooms_delete, "delete a room (asks to confirm on a terminal)",
        live=True, changes_pbx=True,
    )  # fmt: skip
    p.add_argument("room", metavar="ROOM", help="name or conference ID")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
