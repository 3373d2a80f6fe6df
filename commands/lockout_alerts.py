"""Tells the admins' channel (``SLACK_ADMIN_CHANNEL``) of a room under PIN guessing, once per
window: :class:`LockoutAlerts` listens to the lockout monitor
(``telephony.lockout_monitor.LockoutMonitor``), which audits every lockout itself and hands
on each room alert once (also one that happened while the bot was away)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from commands.blocks.lockouts import room_alert
from commands.notify import slack_error
from telephony.lockout_monitor import AlertListener, RoomAlert


class AlertSource(Protocol):
    """What the alerts use of the lockout monitor: its listeners."""

    def add_listener(self, listener: AlertListener) -> Callable[[], None]: ...


log = logging.getLogger(__name__)


class LockoutAlerts:
    """Posts each room alert of ``monitor`` to ``channel``, with buttons to change the PIN
    or lock the room's PIN entry for ``lock_for`` seconds."""

    def __init__(
        self, monitor: AlertSource, client: AsyncWebClient, channel: str | None, lock_for: float
    ) -> None:
        self._monitor = monitor
        self._client = client
        self._channel = channel
        self._lock_for = lock_for
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        self._unsubscribe = self._monitor.add_listener(self.on_alert)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    async def on_alert(self, alert: RoomAlert) -> None:
        """Listener: one post per alert."""
        message = room_alert(alert, self._lock_for)
        if not self._channel:
            log.warning("SLACK_ADMIN_CHANNEL is not set; not posted: %s", message["text"])
            return
        try:
            await self._client.chat_postMessage(channel=self._channel, **message)
        except SlackApiError as exc:
            log.error("could not post the PIN alert to %s: %s", self._channel, slack_error(exc))
