"""``conference-bot``: the admin command line. It shares the service with Slack.

This module builds the parser from the command groups (``server``, ``number``, ``rooms``,
``pbx``, ``requests``, ``audit``: one module each), opens the database, connects to the PBX
for the commands that change what callers reach, runs the command, and turns every failure
into an exit code (``bot.exits``): a one-line reason, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from bot import exits
from bot.cli import audit, number, pbx, requests, rooms, server
from bot.cli.output import Context
from bot.cli.parsing import Handler
from bot.config import Settings, load_environ
from bot.errors import SettingsError
from bot.logs import safe_handler
from bot.repository import Repository
from bot.service import ConferenceService
from bot.text import printable
from bot.wiring import live_pbx

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

    server.register(groups)
    number.register(groups)
    rooms.register(groups)
    groups.add_parser(
        "serve",
        help="run everything: the PBX, its AMI connection and the Slack bot (./dev run)",
        description="Run the PBX, the AMI connection and the Slack bot until Ctrl-C.",
    ).set_defaults(handler=None)
    pbx.register(groups)
    requests.register(groups)
    audit.register(groups)
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
        async with live_pbx(settings, service) as live:
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
