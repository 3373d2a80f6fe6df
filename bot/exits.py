"""The CLI's exit codes, and which failure gets which (the README lists them too).

0 ok; 1 a problem with data, files, settings or a rule (the reason on stderr); 2 a command
typed wrongly (usage); 3 ``pbx status`` when the PBX is not running; 70 a bug of ours
(``EX_SOFTWARE``: an error id on stderr, the details in the log file); 75 the change is saved
but the running PBX did not confirm it within ``--wait`` seconds (``EX_TEMPFAIL``: it still
has the old settings; a background ``pbx sync`` applies it once the PBX answers); 130 Ctrl-C.

A failure a person can fix is one of two trees, and only the entry points (the CLI and
``serve``, through ``FIXABLE``) know both: the application's ``bot.errors.ConferenceBotError``
and the bundled Asterisk's ``deploy.errors.DeployError``. ``deploy/`` imports nothing of the
application, so its errors cannot join our root; rather than translating each of its failures
where deploy is called (several places, easy to miss one), the one place that sees every part
catches its root next to ours.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.errors import ConferenceBotError, ValidationFailed
from bot.repository.dbfile import explain_sqlite
from deploy.errors import DeployError

OK = 0
FAILED = 1
USAGE = 2
PBX_NOT_RUNNING = 3
BUG = 70
NOT_APPLIED = 75  # EX_TEMPFAIL: saved, the PBX has not taken it yet (errors.ChangeNotApplied)
INTERRUPTED = 130
BROKEN_PIPE = 141

# Every failure a person can fix; its message says what to do.
FIXABLE: tuple[type[Exception], ...] = (ConferenceBotError, DeployError)


def explain(exc: BaseException, db_path: Path) -> list[str] | None:
    """The messages to print for a failure a person can fix (exit ``FAILED``), one per
    problem; ``None`` for a bug. ``db_path`` names the database in SQLite's complaints."""
    if isinstance(exc, ValidationFailed):
        return [p.message for p in exc.problems]
    if isinstance(exc, FIXABLE):
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
