"""Asterisk's log rotated by size: Asterisk rotates ``messages.log`` only when told, so
every ``interval`` seconds, while AMI is up, this looks at its size and past the limit
sends ``LoggerRotate``, then has the rotated files past the limit removed (and an
oversized ``console.log`` emptied). The files are ``deploy.logfiles``'; AMI is ours.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from telephony.ami import AmiClient
from telephony.errors import PbxActionFailed, PbxUnavailable

log = logging.getLogger(__name__)

CHECK_EVERY = 5.0


class LogFiles(Protocol):
    """Asterisk's log files (``deploy.logfiles.AsteriskLogs``)."""

    def messages_due(self) -> bool: ...

    def prune(self) -> Sequence[str]: ...

    def trim_console(self) -> bool: ...


class LogRotation:
    """Rotates Asterisk's log by size through AMI; runs while AMI is connected."""

    def __init__(self, files: LogFiles, *, interval: float = CHECK_EVERY) -> None:
        self._files = files
        self.interval = interval
        self._ami: AmiClient | None = None
        self._task: asyncio.Task[None] | None = None
        self.rotations = 0

    def subscribe(self, ami: AmiClient) -> None:
        self._ami = ami
        ami.on_ready(self._started)

    async def _started(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._loop())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def check(self) -> bool:
        """Rotate now if ``messages.log`` is past its limit; True if it was rotated."""
        ami = self._ami
        rotated = False
        if ami is not None and ami.connected and await asyncio.to_thread(self._files.messages_due):
            try:
                await ami.action({"Action": "LoggerRotate"})
            except (PbxUnavailable, PbxActionFailed) as exc:
                log.warning("could not rotate Asterisk's log: %s", exc)
            else:
                rotated = True
                self.rotations += 1
        removed = await asyncio.to_thread(self._files.prune)
        if removed:
            log.info("removed old Asterisk logs: %s", ", ".join(removed))
        if await asyncio.to_thread(self._files.trim_console):
            log.info("emptied Asterisk's console.log (past the size limit)")
        return rotated

    async def _loop(self) -> None:
        while True:
            try:
                await self.check()
            except OSError as exc:
                log.warning("could not check Asterisk's log files: %s", exc)
            await asyncio.sleep(self.interval)
