"""What Approve and Deny share: who may click, and updating the request message."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.models import DeletionRequest
from commands import render
from commands.context import SlackContext, actor, slack_user
from commands.notify import slack_error, tell

log = logging.getLogger(__name__)


def request_id(action: dict[str, Any]) -> int:
    return int(action["value"])


async def admin_or_refuse(
    ctx: SlackContext, user_id: str, verb: str, request: int, respond: AsyncRespond
) -> bool:
    """True for an admin; anyone else is told no, and the attempt is audited."""
    if await ctx.admins.is_admin(user_id):
        return True
    await ctx.deps.service.record(
        actor(user_id),
        f"deletion.{verb}_refused",
        f"request #{request}",
        f"Not an admin: tried to {verb} deletion request #{request}",
    )
    await respond(
        text=f"Only workspace admins and owners, and the people listed in SLACK_ADMIN_USERS, "
        f"can {verb} deletion requests. Nothing changed.",
        response_type="ephemeral",
        replace_original=False,
    )
    return False


async def show_decision(
    client: AsyncWebClient, body: dict[str, Any], request: DeletionRequest
) -> None:
    """Replace the buttons of the request message with who decided what."""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    ts = (body.get("message") or {}).get("ts") or (body.get("container") or {}).get("message_ts")
    if not channel or not ts:
        return
    try:
        await client.chat_update(channel=channel, ts=ts, **render.deletion_decided(request))
    except SlackApiError as exc:
        # The decision stands; a stale message is only cosmetic.
        log.warning("could not update request message %s/%s: %s", channel, ts, slack_error(exc))


async def tell_requester(client: AsyncWebClient, request: DeletionRequest, text: str) -> None:
    user = slack_user(request.requester)
    if user is None:
        return
    try:
        await tell(client, user, text)
    except SlackApiError as exc:
        log.warning("could not tell %s about request #%s: %s", user, request.id, slack_error(exc))
