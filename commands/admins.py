"""Who someone is in our workspace, from Slack's ``users.info``: an admin (workspace admins
and owners, plus the user IDs in SLACK_ADMIN_USERS), a member, or a guest.

Only people of the workspace the bot is installed in count: a user whose ``team_id`` is
another team's is never an admin, and gets no more than a guest. Without an answer from
Slack nobody gets more than a guest either (fail closed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.models import Role

log = logging.getLogger(__name__)

CACHE_SECONDS = 60.0


class AdminDirectory:
    def __init__(
        self,
        client: AsyncWebClient,
        extra_admins: Iterable[str] = (),
        *,
        ttl: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._extra = frozenset(extra_admins)
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, Role]] = {}
        self._team: str | None = None

    async def team(self) -> str | None:
        """The workspace the bot is installed in (``auth.test``, asked once)."""
        if self._team is None:
            try:
                self._team = str((await self._client.auth_test()).get("team_id") or "") or None
            except SlackApiError as exc:
                log.warning("auth.test failed: %s", exc.response.get("error"))
        return self._team

    async def role(self, user_id: str) -> Role:
        now = self._clock()
        cached = self._cache.get(user_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        try:
            response = await self._client.users_info(user=user_id)
        except SlackApiError as exc:
            log.warning("users.info for %s failed: %s", user_id, exc.response.get("error"))
            return Role.GUEST
        role = _role_of(response.get("user") or {}, await self.team(), user_id in self._extra)
        self._cache[user_id] = (now, role)
        return role

    async def is_admin(self, user_id: str) -> bool:
        return await self.role(user_id) is Role.ADMIN

    async def person(self, user_id: str) -> Person:
        """Who ``user_id`` is, asked afresh (a browser link is made for this answer): the
        role, the name Slack shows, and whether they belong to this workspace at all."""
        try:
            response = await self._client.users_info(user=user_id)
        except SlackApiError as exc:
            log.warning("users.info for %s failed: %s", user_id, exc.response.get("error"))
            return Person(Role.GUEST, user_id, in_workspace=False)  # fail closed
        user = response.get("user") or {}
        team = await self.team()
        profile = user.get("profile") or {}
        name = (profile.get("display_name") or profile.get("real_name")
                or user.get("real_name") or user.get("name") or user_id)  # fmt: skip
        ours = team is not None and user.get("team_id") == team and not user.get("deleted")
        role = _role_of(user, team, user_id in self._extra)
        return Person(role, str(name), in_workspace=bool(ours))


@dataclass(frozen=True, slots=True)
class Person:
    role: Role
    name: str
    in_workspace: bool


def _role_of(user: dict[str, object], team: str | None, listed: bool) -> Role:
    """``listed``: named in SLACK_ADMIN_USERS, which makes a member of our team an admin,
    never someone of another team, a deactivated account, a guest or a bot."""
    if team is None or user.get("team_id") != team or user.get("deleted"):
        return Role.GUEST
    if user.get("is_restricted") or user.get("is_ultra_restricted") or user.get("is_bot"):
        return Role.GUEST
    if listed or user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"):
        return Role.ADMIN
    return Role.MEMBER
