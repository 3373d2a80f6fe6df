"""Writing files into the run dir: whole or not at all, never with a wider mode than asked."""

from __future__ import annotations

import os
from pathlib import Path


def write_file(path: Path, text: str, mode: int) -> None:
    """Atomically write ``text`` with ``mode`` (the file never exists with a wider mode)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
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
