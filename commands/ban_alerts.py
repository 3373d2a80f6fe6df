"""Tells the admins' channel (``SLACK_ADMIN_CHANNEL``) of each ban on a source of bad logins,
once: :class:`BanAlerts` listens to the login bans (``telephony.bans.LoginBans``) and posts
each new ban; a ban running out is only audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from slack_sdk.web.async_client import AsyncWebClient

from commands.blocks.bans import ban_added
from commands.notify import post_to_admins
from telephony.bans import BanListener, BanNotice


class BanSource(Protocol):
    """What the alerts use of the login bans: their listeners."""

    def add_listener(self, listener: BanListener) -> Callable[[], None]: ...


class BanAlerts:
    """Posts each new ban of ``bans`` to ``channel``."""

    def __init__(self, bans: BanSource, client: AsyncWebClient, channel: str | None) -> None:
        self._bans = bans
        self._client = client
        self._channel = channel
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        self._unsubscribe = self._bans.add_listener(self.on_ban)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    async def on_ban(self, notice: BanNotice) -> None:
        """Listener: one post per ban made."""
        if notice.kind != "added":
            return
        message = ban_added(notice)
        await post_to_admins(self._client, self._channel, message, "ban notice")
