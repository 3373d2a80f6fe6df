"""Asterisk's log files in the run dir: how big they are, the rotated ones to remove, and
``console.log`` kept small.

Asterisk rotates ``messages.log`` only when told (AMI ``LoggerRotate``, sent by the bot:
``telephony.log_rotation``); with ``rotatestrategy = rotate`` (``templates/logger.conf``)
the newest rotated file is ``messages.log.0``.  Here the ones past the policy's ``keep`` are
removed.  ``console.log`` is Asterisk's standard output, which it never reopens: it is
emptied in place once too big (it holds errors only, each also in ``messages.log``).

When the bot is root the log dir belongs to the user Asterisk runs as
(:mod:`deploy.ownership`), who could plant links there: nothing here follows one.  The dir
is opened with ``O_NOFOLLOW`` and files are named relative to it; unlinking removes a
link itself, never what it points to; a file is truncated only when it is a regular file
with no other name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

from deploy.policies import LogPolicy

MESSAGES = "messages.log"
CONSOLE = "console.log"


class AsteriskLogs:
    """The log dir of one run dir, under one :class:`LogPolicy`."""

    def __init__(self, log_dir: Path, policy: LogPolicy) -> None:
        self.log_dir = Path(log_dir)
        self.policy = policy
        self._rotated = re.compile(rf"^{re.escape(MESSAGES)}\.(\d+)(?:\.(?:gz|bz2|Z))?$")

    @contextlib.contextmanager
    def _dir(self) -> Iterator[int | None]:
        try:
            fd = os.open(self.log_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            yield None
            return
        try:
            yield fd
        finally:
            os.close(fd)

    def size(self, name: str) -> int | None:
        """The size of a regular file in the log dir (None: missing, or not a plain file)."""
        with self._dir() as fd:
            if fd is None:
                return None
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                return None
            return st.st_size if stat.S_ISREG(st.st_mode) else None

    def messages_due(self) -> bool:
        """``messages.log`` has passed the size limit: time to rotate it."""
        size = self.size(MESSAGES)
        return size is not None and size >= self.policy.max_bytes

    def rotated(self) -> list[str]:
        """The rotated ``messages.log.N`` files, newest (lowest N) first."""
        with self._dir() as fd:
            if fd is None:
                return []
            found = [(int(m.group(1)), n) for n in os.listdir(fd) if (m := self._rotated.match(n))]
        return [name for _, name in sorted(found)]

    def prune(self) -> list[str]:
        """Remove the rotated files past ``keep``; the names removed."""
        gone: list[str] = []
        with self._dir() as fd:
            if fd is None:
                return gone
            for name in os.listdir(fd):
                m = self._rotated.match(name)
                if m is None or int(m.group(1)) < self.policy.keep:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=fd)  # a link is removed itself, never followed
                    gone.append(name)
        return sorted(gone)

    def trim_console(self) -> bool:
        """Empty ``console.log`` once it has passed the size limit; True if it was."""
        with self._dir() as dir_fd:
            if dir_fd is None:
                return False
            flags = os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            try:
                fd = os.open(CONSOLE, flags, dir_fd=dir_fd)
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENXIO):
                    return False
                raise
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                    return False
                if st.st_size < self.policy.max_bytes:
                    return False
                # Asterisk writes with O_APPEND: its next line lands at the new end.
                os.ftruncate(fd, 0)
                return True
            finally:
                os.close(fd)
