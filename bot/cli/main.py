"""``conference-bot``: the admin command line. It shares the service with Slack.

This module builds the parser from the command groups (``server``, ``number``, ``rooms``,
``pbx``, ``requests``, ``audit``, ``bans``, ``lockouts``: one module each), opens the
database, connects to the PBX for the commands that change what callers reach, runs the
command, and turns every failure into an exit code (``bot.exits``): a one-line reason, never a
traceback.

A change the running PBX did not confirm within ``--wait`` seconds is saved but not done:
the command says what callers still get, leaves a background ``pbx sync`` to apply it once
the PBX answers, and exits 75 (``bot.exits.NOT_APPLIED``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from bot import exits
from bot.cli import audit, bans, lockouts, number, pbx, requests, rooms, server
from bot.cli.output import Context
from bot.cli.parsing import DEFAULT_WAIT, Handler
from bot.config import Settings, load_environ
from bot.errors import ChangeNotApplied, SettingsError
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
    bans.register(groups)
    lockouts.register(groups)
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
        wait = float(getattr(args, "wait", DEFAULT_WAIT))
        async with live_pbx(settings, service, timeout=min(5.0, wait),
                            confirm_within=wait) as live:  # fmt: skip
            try:
                return await handler(Context(service, settings, out, err, live), args)
            except ChangeNotApplied as pending:
                return not_applied(pending, settings, err)
    finally:
        await repo.close()


def not_applied(pending: ChangeNotApplied, settings: Settings, err: TextIO) -> int:
    """Saved, but the PBX did not confirm it: say what callers still get, and leave a
    background ``pbx sync`` applying it as soon as the PBX answers (this process ends now)."""
    print(f"not applied yet: {printable(pending.message)}", file=err)
    try:
        pid, log_file = pbx.start_background_sync(settings)
    except OSError as exc:
        print(printable(f"  No background retry could be started ({exc.strerror or exc}): run "
                        "conference-bot pbx sync once the PBX answers."), file=err)  # fmt: skip
    else:
        print(printable(f"  A background conference-bot pbx sync (pid {pid}) applies it once "
                        f"the PBX answers; it logs to {log_file}."), file=err)  # fmt: skip
    return exits.NOT_APPLIED


class _OneLine(logging.Formatter):
    """A log record as one escaped line: never a traceback on the terminal."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(f"{record.levelname.lower()}: {record.getMessage()}")


@contextmanager
def cli_logging(background: bool) -> Iterator[None]:
    """What the parts log (the AMI connection, the PBX sync) reaches the terminal only as
    one-line errors: the command itself says what happened. A background ``pbx sync`` logs
    its progress, with times, to its stderr (a log file)."""
    handler: logging.Handler = logging.StreamHandler(sys.stderr)
    if background:
        handler = safe_handler(handler)
        handler.setLevel(logging.INFO)
    else:
        handler.setLevel(logging.ERROR)
        handler.setFormatter(_OneLine())
    root, panoramisk = logging.getLogger(), logging.getLogger("panoramisk")
    levels = root.level, panoramisk.level
    root.addHandler(handler)
    root.setLevel(min(root.getEffectiveLevel(), handler.level))
    panoramisk.setLevel(logging.CRITICAL)  # it logs whole actions (a DBPut carries a PIN)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(levels[0])
        panoramisk.setLevel(levels[1])


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
        with cli_logging(background=bool(getattr(args, "background", False))):
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
