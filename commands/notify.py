"""Telling one person something when there is no response_url to answer on, and posting
to the admins' channel."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


async def tell(
    client: AsyncWebClient, user_id: str, text: str, *, channel: str | None = None
) -> None:
    """An ephemeral message in ``channel`` if given (falling back to a DM), else a DM."""
    if channel:
        try:
            await client.chat_postEphemeral(channel=channel, user=user_id, text=text)
            return
        except SlackApiError as exc:  # e.g. the bot is not in that channel
            log.info(
                "ephemeral to %s in %s failed (%s); sending a DM",
                user_id,
                channel,
                exc.response.get("error"),
            )
    opened = await client.conversations_open(users=user_id)
    dm = opened["channel"]["id"]
    await client.chat_postMessage(channel=dm, text=text)


def metadata(view: Mapping[str, Any]) -> dict[str, Any]:
    """A modal's private_metadata, which this app always writes as a JSON object."""
    raw = view.get("private_metadata") or "{}"
    value = json.loads(raw)
    return value if isinstance(value, dict) else {}


def slack_error(exc: SlackApiError) -> str:
    return str(exc.response.get("error") or "unknown_error")


async def post_to_admins(
    client: AsyncWebClient, channel: str | None, message: Mapping[str, Any], what: str
) -> None:
    """Post ``message`` (``text`` and ``blocks``) to the admins' channel. Without one
    (``SLACK_ADMIN_CHANNEL`` unset), or when Slack refuses, a log line says so: an alert
    never raises into the PBX event that caused it."""
    if not channel:
        log.warning("SLACK_ADMIN_CHANNEL is not set; not posted: %s", message["text"])
        return
    try:
        await client.chat_postMessage(channel=channel, **message)
    except SlackApiError as exc:
        log.error("could not post the %s to %s: %s", what, channel, slack_error(exc))
