"""What every listener needs besides the Bolt arguments: one bundle, built once in build_app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.models import Role
from bot.wiring import Deps
from commands.admins import AdminDirectory

ACTOR_PREFIX = "slack:"


def actor(user_id: str) -> str:
    """How a Slack user appears in the audit log and on deletion requests."""
    return f"{ACTOR_PREFIX}{user_id}"


def slack_user(actor_name: str) -> str | None:
    """The Slack user ID behind an actor string, or None for the CLI and others."""
    if actor_name.startswith(ACTOR_PREFIX):
        return actor_name[len(ACTOR_PREFIX) :]
    return None


class HomeTabs(Protocol):
    """Keeps each opened Home tab current (bot.live_cards.LiveCards)."""

    async def show_home(self, user_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class SlackContext:
    deps: Deps
    admins: AdminDirectory
    homes: HomeTabs
    admin_channel: str | None

    async def role(self, user_id: str) -> Role:
        return await self.admins.role(user_id)

    @property
    def pbx_online(self) -> bool:
        # The tracker is online once it has resynced with a ready AMI connection, which is
        # exactly when its counts can be trusted.
        return self.deps.tracker.online
