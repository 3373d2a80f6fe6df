"""Tells the admins' channel (``SLACK_ADMIN_CHANNEL``) of each ban on a source of bad logins,
once: :class:`BanAlerts` listens to the login bans (``telephony.bans.LoginBans``) and posts
each new ban; a ban running out is only audited."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from commands.blocks.bans import ban_added
from commands.notify import slack_error
from telephony.bans import BanListener, BanNotice

log = logging.getLogger(__name__)


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
        if not self._channel:
            log.warning("SLACK_ADMIN_CHANNEL is not set; not posted: %s", message["text"])
            return
        try:
            await self._client.chat_postMessage(channel=self._channel, **message)
        except SlackApiError as exc:
            log.error("could not post the ban notice to %s: %s", self._channel, slack_error(exc))
