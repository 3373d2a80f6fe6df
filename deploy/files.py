"""Writing files into the run dir: whole or not at all, never with a wider mode than asked.

Started as root, the bot writes into a run dir whose Asterisk runs as another user
(:mod:`deploy.ownership`), so nothing here follows a link that may have been planted: the
temporary file is created afresh (``O_EXCL | O_NOFOLLOW``) and renamed over the target,
which replaces the name itself, never what it points to.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)


def write_file(path: Path, text: str, mode: int) -> None:
    """Atomically write ``text`` with ``mode`` (the file never exists with a wider mode)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)  # a leftover (or a planted link) is removed, not written through
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def symlink(target: Path, link: Path) -> None:
    """Point ``link`` at ``target``, replacing whatever ``link`` was in one step."""
    if link.is_symlink() and os.readlink(link) == str(target):
        return
    tmp = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)


@contextmanager
def exclusive(path: Path, what: str) -> Iterator[None]:
    """Hold the lock file ``path`` (created if missing) while building ``what`` in a cache
    other processes may build at the same time (the Asterisk prefix, the JsSIP bundle)."""
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another build of %s (lock %s)", what, path)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
