"""``conference-bot``: the admin command line. It shares the service layer with Slack."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from bot import exits, pbx
from bot.config import Settings, SettingsError, load_environ
from bot.logs import safe_handler
from bot.models import LANGUAGES, Room, Server
from bot.repository import Repository
from bot.service import OWNER_PREFIX, ConferenceService
from bot.text import printable
from bot.wiring import Telephony
from telephony.errors import PbxUnavailable

log = logging.getLogger("conference_bot.cli")

EPILOG = """\
ROOM is a room's name (any case) or its conference ID.
Settings come from the environment or a .env file: CONFERENCE_DB (default data/conference.db).
Examples:
  conference-bot server setup --extension 800
  conference-bot rooms create --name "Sales weekly" --id 4321 --pin 2468
  conference-bot rooms edit "sales weekly" --no-pin
  conference-bot rooms list --json
"""


class Context:
    def __init__(
        self,
        service: ConferenceService,
        settings: Settings,
        out: TextIO,
        err: TextIO,
        live: Telephony | None = None,
    ) -> None:
        self.service = service
        self.settings = settings
        self.out = out
        self.err = err
        self.live = live
        self.actor = f"cli:{_os_user()}"

    def print(self, text: str = "") -> None:
        """Values from outside are escaped where they are put in (``printable``, so a newline
        in one cannot forge a line); this escapes whatever else slipped in, line by line."""
        print("\n".join(printable(line) for line in text.split("\n")), file=self.out)

    def say(self, text: str) -> None:
        """A line on stderr (progress, warnings)."""
        print(printable(text), file=self.err)

    def json(self, value: Any) -> None:
        # ensure_ascii (the default) writes every control character as a \uXXXX escape.
        print(json.dumps(value, indent=2, sort_keys=False), file=self.out)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _confirm(ctx: Context, question: str, assume_yes: bool) -> bool:
    """Ask on a terminal; scripts (no terminal) and --yes go ahead."""
    if assume_yes or not sys.stdin.isatty():
        return True
    print(f"{printable(question)} [y/N] ", end="", file=ctx.err, flush=True)
    answer = sys.stdin.readline().strip().lower()
    return answer in {"y", "yes"}


def _pin_arg(value: str | None) -> str | None:
    """``--pin -`` reads the PIN from a hidden prompt (or stdin in scripts), so it stays out
    of shell history and ``ps``."""
    if value != "-":
        return value
    if sys.stdin.isatty():
        return getpass.getpass("PIN (4 to 10 digits; empty for none): ")
    return sys.stdin.readline().strip()


def _table(raw: Sequence[Sequence[str]]) -> str:
    rows = [[printable(cell) for cell in row] for row in raw]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _server_lines(server: Server) -> list[str]:
    return [
        f"Extension:    {server.extension}",
        f"Phone number: {server.phone_number or '(none assigned)'}",
        f"Created:      {server.created_at} by {printable(server.created_by)}",
        f"Last change:  {server.updated_at} by {printable(server.updated_by)}",
    ]


# -- server ---------------------------------------------------------------------------------


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
    ctx.print("\n".join(_server_lines(server)))
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
    if not _confirm(ctx, "Delete the conference server?", args.yes):
        ctx.print("Nothing deleted.")
        return 1
    await ctx.service.delete_server(ctx.actor)
    ctx.print("Conference server deleted.")
    return 0


async def cmd_number_assign(ctx: Context, args: argparse.Namespace) -> int:
    server = await ctx.service.assign_number(args.number, ctx.actor)
    ctx.print(f"Phone number {server.phone_number} now reaches extension {server.extension}.")
    return 0


async def cmd_number_unassign(ctx: Context, args: argparse.Namespace) -> int:
    before = await ctx.service.require_server()
    await ctx.service.unassign_number(ctx.actor)
    ctx.print(f"Phone number {before.phone_number} unassigned.")
    return 0


# -- rooms ----------------------------------------------------------------------------------


def _room_lines(room: Room, *, show_pin: bool) -> list[str]:
    if room.pin is None:
        pin = "none"
    else:
        pin = room.pin if show_pin else "set (add --show-pin to see it)"
    return [
        f"Name:          {printable(room.name)}",
        f"Conference ID: {room.conference_id}",
        f"PIN:           {pin}",
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
    ctx.print(_table(rows))
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
    if args.json:
        ctx.json(
            [
                {
                    "caller_id_num": p.caller_id_num,
                    "caller_id_name": p.caller_id_name,
                    "channel": p.channel,
                    "uniqueid": p.uniqueid,
                    "joined_at": datetime.fromtimestamp(p.joined_at, UTC).isoformat(
                        timespec="seconds"
                    ),
                    "muted": p.muted,
                }
                for p in people
            ]
        )
        return 0
    if not people:
        ctx.print(f'Nobody is in room "{printable(room.name)}" right now.')
        return 0
    rows = [("CALLER", "JOINED", "MUTED", "CHANNEL")]
    rows += [
        (
            p.caller,
            datetime.fromtimestamp(p.joined_at).strftime("%H:%M:%S"),
            "yes" if p.muted else "no",
            p.channel,
        )
        for p in people
    ]
    ctx.print(_table(rows))
    ctx.print(f'\n{len(people)} of {room.max_participants} in "{printable(room.name)}".')
    return 0


# -- the PBX --------------------------------------------------------------------------------


async def cmd_pbx_start(ctx: Context, args: argparse.Namespace) -> int:
    info = await pbx.start_pbx(ctx.settings, ctx.service, say=ctx.say)
    ctx.print(
        f"PBX running (pid {info['pid']}): SIP on {info['bind_address']}:{info['sip_port']}, "
        f"AMI on port {info['ami_port']}."
    )
    return 0


async def cmd_pbx_stop(ctx: Context, args: argparse.Namespace) -> int:
    if await pbx.stop_pbx(ctx.settings):
        ctx.print("PBX stopped.")
    else:
        ctx.print("The PBX was not running.")
    return 0


async def cmd_pbx_status(ctx: Context, args: argparse.Namespace) -> int:
    info = await pbx.status_dict(ctx.settings, ctx.service)
    if args.json:
        ctx.json(info)
        return exits.OK if info["running"] else exits.PBX_NOT_RUNNING
    if not info["running"]:
        ctx.print("PBX: not running (start it: conference-bot pbx start)")
        return exits.PBX_NOT_RUNNING
    ctx.print(f"PBX:       running, pid {info['pid']}, AMI {info['ami']}")
    ctx.print(f"Asterisk:  {info['asterisk_version'] or 'unknown'}")
    ctx.print(f"SIP:       {info['bind_address']}:{info['sip_port']} (RTP {info['rtp_ports']})")
    ctx.print(f"AMI:       {info['bind_address']}:{info['ami_port']}")
    ctx.print(f"Extension: {info['extension'] or '(no conference server set up)'}")
    active = info["active_rooms"]
    ctx.print(f"Calls:     {sum(active.values())} callers in {len(active)} rooms")
    return 0


async def cmd_rooms_show(ctx: Context, args: argparse.Namespace) -> int:
    room = await ctx.service.get_room(args.room)
    owners = [o.owner.removeprefix(OWNER_PREFIX) for o in await ctx.service.owners(room.id)]
    if args.json:
        data = room.public_dict()
        data["pin"] = room.pin
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
        pin=_pin_arg(args.pin),
        max_participants=args.max,
        language=args.language,
        actor=ctx.actor,
    )
    pin = "with a PIN" if room.has_pin else "without a PIN"
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
        changes["pin"] = _pin_arg(args.pin)
    if args.max is not None:
        changes["max_participants"] = args.max
    if args.language is not None:
        changes["language"] = args.language
    if not changes:
        ctx.err.write(
            "Nothing to change: give at least one of --name, --id, --pin, --no-pin, --max, "
            "--language.\n"
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
    if not _confirm(ctx, f'Delete room "{room.name}" (ID {room.conference_id})?', args.yes):
        ctx.print("Nothing deleted.")
        return 1
    await ctx.service.delete_room(room.id, actor=ctx.actor)  # the room confirmed, by stable id
    ctx.print(f'Room "{printable(room.name)}" deleted.')
    return 0


# -- deletion requests and audit --------------------------------------------------------------


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
    ctx.print(_table(rows))
    return 0


async def cmd_requests_approve(ctx: Context, args: argparse.Namespace) -> int:
    request, room = await ctx.service.approve_deletion(args.request, admin=ctx.actor)
    ctx.print(f'Request #{request.id} approved; room "{printable(room.name)}" deleted.')
    return 0


async def cmd_requests_deny(ctx: Context, args: argparse.Namespace) -> int:
    request = await ctx.service.deny_deletion(args.request, admin=ctx.actor)
    ctx.print(f'Request #{request.id} denied; room "{printable(request.room_name)}" stays.')
    return 0


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


# -- parser ---------------------------------------------------------------------------------

Handler = Callable[[Context, argparse.Namespace], Awaitable[int]]


_SQLITE_INT_MAX = 2**63 - 1  # a larger Python int cannot even be passed to a query


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if not 1 <= number <= _SQLITE_INT_MAX:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 1 to {_SQLITE_INT_MAX}, got {value!r}"
        )
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conference-bot",
        description="Manage the conference server and its rooms.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--db", type=Path, help="database file (default: $CONFERENCE_DB or data/conference.db)"
    )
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)

    def sub(
        parent: Any, name: str, handler: Handler, help_text: str, **kw: Any
    ) -> argparse.ArgumentParser:
        live = kw.pop("live", False)
        p: argparse.ArgumentParser = parent.add_parser(
            name, help=help_text, description=help_text, **kw
        )
        p.set_defaults(handler=handler, live=live)
        return p

    def json_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", help="print JSON")

    server = groups.add_parser("server", help="show, set up or delete the conference server")
    s = server.add_subparsers(dest="action", metavar="ACTION", required=True)
    json_flag(sub(s, "show", cmd_server_show, "show the conference server"))
    p = sub(s, "setup", cmd_server_setup, "create the server, or change its extension", live=True)
    p.add_argument("--extension", default="800", help="2 to 6 digits (default 800)")
    p = sub(
        s,
        "delete",
        cmd_server_delete,
        "delete the server (only once it has no rooms and no phone number)",
        live=True,
    )
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    number = groups.add_parser("number", help="assign or unassign the server's phone number")
    n = number.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub(n, "assign", cmd_number_assign, "assign (or replace) the phone number", live=True)
    p.add_argument("number", help="E.164 form, for example +15551234567")
    sub(n, "unassign", cmd_number_unassign, "unassign the phone number", live=True)

    rooms = groups.add_parser("rooms", help="list, show, create, edit or delete rooms")
    r = rooms.add_subparsers(dest="action", metavar="ACTION", required=True)
    json_flag(sub(r, "list", cmd_rooms_list, "list the rooms, with live counts", live=True))
    p = sub(r, "show", cmd_rooms_show, "show one room")
    p.add_argument("room", metavar="ROOM", help="name or conference ID")
    p.add_argument("--show-pin", action="store_true", help="print the PIN itself")
    json_flag(p)
    p = sub(r, "owners", cmd_rooms_owners, "add or remove an owner (a Slack member ID)")
    p.add_argument("room", metavar="ROOM", help="name or conference ID")
    p.add_argument("change", choices=["add", "remove"], help="add or remove")
    p.add_argument("user", metavar="USER", help="Slack member ID, for example U0123ABCD")
    p = sub(r, "participants", cmd_rooms_participants, "who is in a room right now", live=True)
    p.add_argument("room", metavar="ROOM", help="name or conference ID")
    json_flag(p)
    p = sub(r, "create", cmd_rooms_create, "create a room", live=True)
    p.add_argument("--name", required=True, help="1 to 64 characters, unique ignoring case")
    p.add_argument("--id", required=True, help="conference ID: 3 to 10 digits, unique")
    p.add_argument(
        "--pin", help="participant PIN: 4 to 10 digits, or - to type it unseen (default: none)"
    )
    p.add_argument("--max", default="10", help="participant limit, 1 to 10 (default 10)")
    p.add_argument("--language", default="en", help="prompt language: en or es (default en)")
    p = sub(
        r, "edit", cmd_rooms_edit, "change a room's name, conference ID, PIN or limit", live=True
    )
    p.add_argument("room", metavar="ROOM", help="name or conference ID")
    p.add_argument("--name", help="new name")
    p.add_argument("--id", help="new conference ID")
    pin = p.add_mutually_exclusive_group()
    pin.add_argument("--pin", help="new PIN (4 to 10 digits), or - to type it unseen")
    pin.add_argument("--no-pin", action="store_true", help="remove the PIN")
    p.add_argument("--max", help="new participant limit, 1 to 10")
    p.add_argument("--language", help="new prompt language: en or es")
    p = sub(
        r, "delete", cmd_rooms_delete, "delete a room (asks to confirm on a terminal)", live=True
    )
    p.add_argument("room", metavar="ROOM", help="name or conference ID")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    groups.add_parser(
        "serve",
        help="run everything: the PBX, its AMI connection and the Slack bot (./dev run)",
        description="Run the PBX, the AMI connection and the Slack bot until Ctrl-C.",
    ).set_defaults(handler=None)

    pbx_group = groups.add_parser("pbx", help="start, stop or check the bundled Asterisk PBX")
    x = pbx_group.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub(x, "start", cmd_pbx_start, "start Asterisk in the background and sync the rooms to it")
    sub(x, "stop", cmd_pbx_stop, "stop Asterisk (callers are disconnected)")
    json_flag(sub(x, "status", cmd_pbx_status, "is it running, on which ports"))

    requests = groups.add_parser("requests", help="decide deletion requests filed from Slack")
    q = requests.add_subparsers(dest="action", metavar="ACTION", required=True)
    json_flag(sub(q, "list", cmd_requests_list, "list deletion requests"))
    p = sub(q, "approve", cmd_requests_approve, "approve a request: the room is deleted", live=True)
    p.add_argument("request", type=_positive, metavar="N", help="request number")
    p = sub(q, "deny", cmd_requests_deny, "deny a request: the room stays")
    p.add_argument("request", type=_positive, metavar="N", help="request number")

    p = sub(groups, "audit", cmd_audit, "show the latest changes, oldest first")
    p.add_argument("--limit", type=_positive, default=50, help="how many entries (default 50)")
    json_flag(p)
    return parser


async def run(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    repo = await Repository.open(
        settings.db_path, warn=lambda text: print(f"warning: {printable(text)}", file=err)
    )
    try:
        service = ConferenceService(repo, max_rooms=settings.max_rooms)
        handler: Handler = args.handler
        if not getattr(args, "live", False):
            return await handler(Context(service, settings, out, err), args)
        async with pbx.live_pbx(settings, service) as live:
            code = await handler(Context(service, settings, out, err, live), args)
            if live is not None and not await live.sync.settle(5.0):
                err.write(
                    "warning: the PBX did not confirm the change in time. It is saved, and "
                    "reaches Asterisk at its next sync (run: conference-bot pbx start).\n"
                )
            return code
    finally:
        await repo.close()


def _report_bug(settings: Settings, command: str) -> int:
    """An error id on stderr, the traceback in the log file (or, if even that cannot be
    written, the error's type on stderr): one line, never a traceback on the terminal."""
    incident = uuid.uuid4().hex[:8]
    kind = type(sys.exception()).__name__
    log_file = settings.data_dir / "conference-bot.log"
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        handler = safe_handler(logging.FileHandler(log_file))
    except OSError as exc:
        where = (
            f"{kind}; its details could not be written to {log_file} ({exc.strerror}): set "
            "CONFERENCE_DATA_DIR to a folder you can write and run it again to keep them"
        )
    else:
        root = logging.getLogger()
        root.addHandler(handler)
        try:
            log.error("unexpected error [%s] running %s", incident, command, exc_info=True)
        finally:
            root.removeHandler(handler)
            handler.close()
        where = f"details are in {log_file}"
    print(
        printable(f"Sorry, something unexpected went wrong (incident {incident}); {where}."),
        file=sys.stderr,
    )
    return exits.BUG


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes: see ``bot.exits`` (and the README)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        env = load_environ()
        settings = Settings.from_environ(env)
    except SettingsError as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return exits.FAILED
    if args.db is not None:
        settings = Settings(args.db, settings.data_dir, settings.max_rooms, settings.environ)
    if args.group == "serve":
        from bot.serve import run_serve

        return run_serve(settings)
    try:
        return asyncio.run(run(args, settings, sys.stdout, sys.stderr))
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return exits.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (| head): not an error of ours. Silence the final flush.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return exits.BROKEN_PIPE
    except Exception as exc:
        lines = exits.explain(exc, settings.db_path)
        if lines is None:
            return _report_bug(settings, args.group)
        for message in lines:  # a PBX error may carry Asterisk's last log lines, indented
            text = "\n  ".join(printable(line) for line in message.splitlines() or [""])
            print(f"error: {text}", file=sys.stderr)
        return exits.FAILED
