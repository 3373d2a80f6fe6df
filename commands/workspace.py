"""One workspace: requests that name any other team or enterprise are refused and audited.

The same app (and so the same signing secret) can reach other workspaces: an org-wide
install, a Slack Connect channel shared with another company, a second installation. A
request is ours only if every team ID it names (the team, the user's team, the view's team,
the event's authorizations) is the team the bot is installed in, and every enterprise ID it
names is ours. That team comes from ``auth.test``, which Bolt's authorization asks before
any listener runs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.service import ConferenceService
from commands.context import SlackContext, actor
from commands.transport import RefusalLog

log = logging.getLogger(__name__)

REFUSAL = (
    "This conference server belongs to another Slack workspace; only that workspace's "
    "members can use it."
)


def _ids(body: dict[str, Any], key: str) -> Iterator[str]:
    """Every ``key`` ("team" or "enterprise") ID the request names, wherever it stands."""
    flat = f"{key}_id"
    for where in (body, body.get("event"), body.get("view"), body.get("user"), body.get("team")):
        if isinstance(where, dict):
            value = where.get(flat)
            if isinstance(value, str) and value:
                yield value
            nested = where.get(key)
            if isinstance(nested, dict) and isinstance(nested.get("id"), str):
                yield nested["id"]
            elif isinstance(nested, str) and nested and key == "team" and where is not body:
                yield nested  # an event's "team": "T..."
    if key == "team":
        view = body.get("view")
        if isinstance(view, dict) and isinstance(view.get("app_installed_team_id"), str):
            yield view["app_installed_team_id"]
    for auth in body.get("authorizations") or []:
        if isinstance(auth, dict) and isinstance(auth.get(flat), str):
            yield auth[flat]


def foreign(body: dict[str, Any], team: str | None, enterprise: str | None) -> str | None:
    """What makes this request another workspace's, or None when it is ours."""
    teams = set(_ids(body, "team"))
    if not teams:
        return "names no team"
    if team is None or teams != {team}:
        return "team " + ", ".join(sorted(teams))
    enterprises = set(_ids(body, "enterprise"))
    if enterprises - {enterprise}:
        return "enterprise " + ", ".join(sorted(e for e in enterprises if e != enterprise))
    return None


class OneWorkspace(AsyncMiddleware):
    """The global middleware refusing (and auditing) requests from any other workspace.

    A middleware class rather than a function: Bolt calls it directly, without gathering
    every listener argument for it on each request.
    """

    def __init__(self, service: ConferenceService) -> None:
        self._service = service
        self._refusals = RefusalLog(log)

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],  # Bolt passes it by this name
    ) -> BoltResponse:
        context, body = req.context, req.body
        ours = context.authorize_result
        team = ours.team_id if ours is not None else None
        enterprise = ours.enterprise_id if ours is not None else None
        why = foreign(body, team, enterprise)
        if why is None:
            return await next()
        user = context.user_id or "unknown"
        self._refusals.refused(f"a request by {user}", f"another workspace ({why})")
        await self._service.record(
            actor(user), "slack.refused", "workspace", f"Request from another workspace ({why})"
        )
        if "command" in body:
            return BoltResponse(status=200, body=REFUSAL)
        return BoltResponse(status=200, body="")


def register(app: AsyncApp, ctx: SlackContext) -> None:
    app.use(OneWorkspace(ctx.deps.service))
