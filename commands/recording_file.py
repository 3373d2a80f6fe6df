"""A recording's file on disk: read once Asterisk has finished it, and removed.

Asterisk's user can write the recordings folder, so a file is opened without following a
final symbolic link and must be a regular file; a link is removed as itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from pathlib import Path

from commands.wav import WavInfo, wav_info

log = logging.getLogger(__name__)

HEAD = 4096  # bytes read to find a WAV header's chunks


class NotFinished(Exception):
    """The recording file is missing, not a regular file, or not finished in time."""


def remove(path: str) -> bool:
    """Delete a recording file (a link itself, never what it points to); True if it was
    there."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        log.error("cannot delete the recording %s: %s", path, exc.strerror)
        return False
    return True


def _read(path: Path, limit: int | None) -> tuple[int, bytes]:
    """A regular file's size and its first ``limit`` bytes (all with None), not following
    a final symbolic link."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as file:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotFinished(f"{path} is not a regular file")
        return st.st_size, file.read() if limit is None else file.read(limit)


async def finished_file(path: Path, timeout: float, poll: float) -> tuple[WavInfo | None, bytes]:
    """The file's WAV header (None for another format) and its bytes, once it is finished:
    a WAV header whose sizes agree with the file, or, for another format, a length that no
    longer changes."""
    deadline = asyncio.get_running_loop().time() + timeout
    last = -1
    why = "it never appeared"
    while True:
        try:
            size, head = await asyncio.to_thread(_read, path, HEAD)
        except FileNotFoundError:
            size, head = -1, b""
        except NotFinished:
            raise
        except OSError as exc:
            raise NotFinished(f"cannot read {path} ({exc.strerror})") from None
        if size >= 0:
            info = wav_info(head)
            # Finished by the header (or, for another format, by having some length), and
            # no longer growing: some Asterisk versions rewrite the header on every write.
            done = (info.complete(size) if info is not None else size > 0) and size == last
            why = "its WAV header does not match its length" if info else "it is empty"
            if done:
                size, data = await asyncio.to_thread(_read, path, None)
                info = wav_info(data[:HEAD])
                if info is None or info.complete(len(data)):
                    return info, data
            last = size
        if asyncio.get_running_loop().time() >= deadline:
            raise NotFinished(f"the recording file was not finished within {timeout:.0f} s ({why})")
        await asyncio.sleep(poll)
