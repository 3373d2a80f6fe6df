"""Tells the admins' channel (``SLACK_ADMIN_CHANNEL``) of a room under PIN guessing, once per
window: :class:`LockoutAlerts` listens to the lockout monitor
(``telephony.lockout_monitor.LockoutMonitor``), which audits every lockout itself and hands
on each room alert once (also one that happened while the bot was away)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from slack_sdk.web.async_client import AsyncWebClient

from commands.blocks.lockouts import room_alert
from commands.notify import post_to_admins
from telephony.lockout_monitor import AlertListener, RoomAlert


class AlertSource(Protocol):
    """What the alerts use of the lockout monitor: its listeners."""

    def add_listener(self, listener: AlertListener) -> Callable[[], None]: ...


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
        await post_to_admins(self._client, self._channel, message, "PIN alert")
