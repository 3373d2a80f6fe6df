"""Trusting the database file before SQLite opens it, and explaining why when we cannot.

The file holds PINs, and ``CONFERENCE_DB`` may point anywhere. So, before SQLite sees it
(``prepare``), nothing existing is changed and:

- its folder is created owner-only if missing;
- a symbolic link, directory, FIFO, device or socket is refused, and so is a ``-wal`` or
  ``-shm`` side file that is one (SQLite would follow a link); they are only looked at,
  through ``O_PATH | O_NOFOLLOW`` descriptors, never opened for reading or writing;
- a missing file is created with ``O_EXCL | O_NOFOLLOW`` and mode 0600 (SQLite creates
  missing side files with the database file's mode).

Once SQLite opened it and found it sound (``check_modes``), a file readable by others is
reported with the command that fixes it, and left as it is: this program changes the mode
only of files it created itself (``CONFERENCE_DB`` may name a file someone keeps that way
on purpose, or one that is not ours to change).

``O_PATH`` matters beyond links: closing an ordinary descriptor of a file drops every POSIX
lock this process holds on it, SQLite's included; closing an ``O_PATH`` one does not.
Linux only, like the rest of the product.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

from bot.errors import DatabaseUnusable

Warn = Callable[[str], None]

SIDE_SUFFIXES = ("-wal", "-shm")


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _not_a_file(path: Path, mode: int, side: bool) -> DatabaseUnusable:
    if side:
        hint = "Remove it (SQLite would write the database's journal through it), then try again."
    elif stat.S_ISLNK(mode):
        hint = "Point CONFERENCE_DB at the file itself, not at a link."
    elif stat.S_ISDIR(mode):
        hint = f"Set CONFERENCE_DB to a file path, for example {path / 'conference.db'}."
    else:
        hint = "Set CONFERENCE_DB to a regular file, for example data/conference.db."
    return DatabaseUnusable(f"{path} is {_kind(mode)}, not a regular file; refused. {hint}")


def _os_problem(path: Path, exc: OSError, doing: str) -> DatabaseUnusable:
    if exc.errno in (errno.EACCES, errno.EPERM):
        fix = (
            "Run conference-bot as the user that owns it, give this user access, or set "
            "CONFERENCE_DB / CONFERENCE_DATA_DIR to a place this user can write."
        )
    elif exc.errno == errno.EROFS:
        fix = "Set CONFERENCE_DB / CONFERENCE_DATA_DIR to a writable place."
    elif exc.errno in (errno.ENOTDIR, errno.EEXIST):
        fix = "Part of that path is a file, not a folder: fix CONFERENCE_DB / CONFERENCE_DATA_DIR."
    else:
        fix = "Check the path in CONFERENCE_DB / CONFERENCE_DATA_DIR and the disk."
    reason = exc.strerror or type(exc).__name__
    return DatabaseUnusable(f"cannot {doing} {path}: {reason}. {fix}")


def _loose(st: os.stat_result) -> bool:
    return bool(st.st_mode & 0o077)


def _warn_loose(path: Path, st: os.stat_result, warn: Warn) -> None:
    mode = f"{stat.S_IMODE(st.st_mode):04o}"
    if st.st_uid != os.geteuid():
        why, fix = f"it belongs to another user, uid {st.st_uid}", "its owner should run"
    else:
        why, fix = "conference-bot changes only files it created", "run"
    warn(
        f"{path} is readable by other users (mode {mode}) and holds PINs. It was left as it "
        f"is ({why}): {fix} chmod 600 {path}"
    )


def _lookup(path: Path) -> int | None:
    """An ``O_PATH`` descriptor of ``path`` itself (a link is not followed); ``None`` when
    it is missing. Closing it drops no lock (unlike an ordinary one: SQLite's would go)."""
    try:
        return os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _os_problem(path, exc, "open") from None


def _sides(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in SIDE_SUFFIXES]


def prepare(path: Path) -> tuple[int, int]:
    """Make ``path`` a regular database file SQLite may open (see the module docstring):
    create it (and its folder) owner-only if missing, refuse it or a side file that is not a
    regular file. Changes no existing file. Returns the database's (device, inode), to check
    after SQLite opened it that the same file is still there."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise _os_problem(path.parent, exc, "create the database folder") from None
    for file in (path, *_sides(path)):
        fd = _lookup(file)
        if fd is None:
            continue
        try:
            mode = os.fstat(fd).st_mode
        finally:
            os.close(fd)
        if not stat.S_ISREG(mode):
            raise _not_a_file(file, mode, side=file != path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        if not os.access(path, os.R_OK | os.W_OK):
            code = errno.EROFS if os.statvfs(path).f_flag & os.ST_RDONLY else errno.EACCES
            raise _os_problem(path, OSError(code, os.strerror(code)), "write") from None
        st = os.stat(path, follow_symlinks=False)
    except OSError as exc:
        raise _os_problem(path, exc, "create") from None
    else:
        try:
            os.fchmod(fd, 0o600)  # ours, just made: exactly owner-only whatever the umask
            st = os.fstat(fd)
        finally:
            os.close(fd)  # a brand-new file: no lock of anyone's to lose
    return st.st_dev, st.st_ino


def check_modes(path: Path, warn: Warn) -> None:
    """Once the database proved sound: warn of it, or else of a side file, readable by
    others (SQLite gives the side files the database's mode: one warning says it all)."""
    for file in (path, *_sides(path)):
        fd = _lookup(file)
        if fd is None:
            continue
        try:
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode) and _loose(st):
                _warn_loose(file, st, warn)
                return
        finally:
            os.close(fd)


def still_same(path: Path, identity: tuple[int, int]) -> None:
    """Refuse if ``path`` was swapped (for a link or another file) while SQLite opened it."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise _os_problem(path, exc, "open") from None
    if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != identity:
        raise DatabaseUnusable(
            f"{path} was replaced by another file while it was being opened; refused. "
            "Check who else writes to that folder, then try again."
        )


def damaged(path: Path, detail: str) -> DatabaseUnusable:
    return DatabaseUnusable(
        f"{path} is damaged or is not a conference-bot database ({detail}). It was left as it "
        "is. Restore it from a backup, or move it aside to start with an empty database."
    )


def explain_sqlite(path: Path, exc: sqlite3.Error) -> DatabaseUnusable | None:
    """The reason a person can act on, for SQLite errors about the file itself; ``None`` for
    the rest (a bad statement is a bug, not a problem with the file)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    primary = "_".join(name.split("_")[:2])
    if primary in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
        return damaged(path, str(exc))
    if primary in ("SQLITE_READONLY", "SQLITE_PERM", "SQLITE_CANTOPEN", "SQLITE_AUTH"):
        return DatabaseUnusable(
            f"cannot write {path} ({exc}). Check that this user can write the file and its "
            "folder, or set CONFERENCE_DB to another file."
        )
    if primary in ("SQLITE_BUSY", "SQLITE_LOCKED"):
        return DatabaseUnusable(
            f"{path} stayed locked by another program for 30 seconds ({exc}). "
            "Wait for it to finish, then try again."
        )
    if primary == "SQLITE_FULL":
        return DatabaseUnusable(f"the disk holding {path} is full. Free some space and try again.")
    if primary == "SQLITE_IOERR":
        return DatabaseUnusable(
            f"could not read or write {path} ({exc}). Check the disk, then try again."
        )
    return None
