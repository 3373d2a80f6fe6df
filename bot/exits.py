"""The CLI's exit codes, and which failure gets which (the README lists them too).

0 ok; 1 a problem with data, files, settings or a rule (the reason on stderr); 2 a command
typed wrongly (usage); 3 ``pbx status`` when the PBX is not running; 70 a bug of ours
(``EX_SOFTWARE``: an error id on stderr, the details in the log file); 130 Ctrl-C.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.config import SettingsError
from bot.dbfile import DatabaseUnusable, explain_sqlite
from bot.errors import DomainError, ValidationFailed
from deploy.install import PrefixError
from deploy.settings import PbxError

OK = 0
FAILED = 1
USAGE = 2
PBX_NOT_RUNNING = 3
BUG = 70
INTERRUPTED = 130
BROKEN_PIPE = 141


def explain(exc: BaseException, db_path: Path) -> list[str] | None:
    """The messages to print for a failure a person can fix (exit ``FAILED``), one per
    problem; ``None`` for a bug. ``db_path`` names the database in SQLite's complaints."""
    if isinstance(exc, ValidationFailed):
        return [p.message for p in exc.problems]
    if isinstance(exc, DomainError):
        return [exc.message]
    if isinstance(exc, DatabaseUnusable | SettingsError | PbxError | PrefixError):
        return [str(exc)]
    if isinstance(exc, sqlite3.Error):
        problem = explain_sqlite(db_path, exc)
        return [str(problem)] if problem else None
    if isinstance(exc, OSError) and exc.filename is not None:
        # A file or folder we were told to use (a log, a run file): the system's reason.
        where = f"{exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 else "")
        return [
            f"cannot use {where}: {exc.strerror or type(exc).__name__}. Check that the path "
            "is right and that this user may write there (CONFERENCE_DATA_DIR)."
        ]
    return None
