"""Background tasks of one telephony component (listeners told of an event, handlers of an
AMI event): each kept referenced until it ends, and a failure logged, never lost."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable


class Background:
    """The component's running tasks (``tasks``); ``spawn`` one, a failure is logged on
    ``logger`` as ``failed``."""

    def __init__(self, logger: logging.Logger, failed: str) -> None:
        self.tasks: set[asyncio.Future[None]] = set()
        self._log = logger
        self._failed = failed

    def spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Future[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.error(self._failed, exc_info=task.exception())
