"""The Slack front end's one error handler, and how it words what went wrong.

A domain error's message goes to the person as it is. Anything else is logged with a short
correlation id, and the person gets an apology carrying that id; no stack trace reaches Slack.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import DomainError
from commands.blocks import messages, modals
from commands.blocks.kit import esc
from commands.notify import metadata, tell
from commands.respond import pooled
from commands.transport import VERIFIED

log = logging.getLogger(__name__)


def apology(incident: str) -> str:
    return (
        f"Sorry, something went wrong on our side (error id {incident}). Nothing you typed was "
        "wrong; try again in a moment, and if it keeps happening give an admin this error id."
    )


def describe(body: dict[str, Any]) -> str:
    """What was being handled, for the log line (never the PIN: only names and IDs)."""
    if "command" in body:
        words = str(body.get("text") or "").split()
        return f"{body['command']} {words[0] if words else ''}".strip()
    kind = str(body.get("type") or "request")
    if kind == "block_actions":
        actions = body.get("actions") or [{}]
        return f"block_actions {actions[0].get('action_id')}"
    if kind == "view_submission":
        return f"view_submission {(body.get('view') or {}).get('callback_id')}"
    if kind == "event_callback":
        return f"event {(body.get('event') or {}).get('type')}"
    return kind


def _user(body: dict[str, Any]) -> str | None:
    user = body.get("user_id") or (body.get("user") or {}).get("id")
    user = user or (body.get("event") or {}).get("user")
    return str(user) if user else None


def _channel(body: dict[str, Any]) -> str | None:
    channel = body.get("channel_id") or (body.get("channel") or {}).get("id")
    if not channel and body.get("type") == "view_submission":
        channel = metadata(body.get("view") or {}).get("channel")  # where the modal was opened
    return str(channel) if channel else None


def _json(payload: dict[str, Any]) -> BoltResponse:
    return BoltResponse(
        status=200,
        body=json.dumps(payload),
        headers={"content-type": "application/json;charset=utf-8"},
    )


def message_for(error: Exception, body: dict[str, Any]) -> str:
    """A domain error's own message; for anything else a logged incident and an apology."""
    if isinstance(error, DomainError):
        log.info("refused %s: %s (%s)", describe(body), error.code, error.message)
        return esc(error.message)  # it may quote a room name someone typed
    incident = secrets.token_hex(4)
    log.error(
        "unexpected error [%s] handling %s",
        incident,
        describe(body),
        exc_info=(type(error), error, error.__traceback__),
    )
    return apology(incident)


async def deliver(
    text: str, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond | None
) -> None:
    """Tell the person behind ``body``, after the request was acknowledged."""
    try:
        if respond is not None and respond.response_url:
            await respond(text=text, response_type="ephemeral", replace_original=False)
        elif (user := _user(body)) is not None:
            await tell(client, user, text, channel=_channel(body))
    except SlackApiError as exc:
        log.warning("could not tell the user about an error: %s", exc.response.get("error"))


async def on_error(
    error: Exception,
    body: dict[str, Any],
    context: AsyncBoltContext,
    response: BoltResponse | None,
    respond: AsyncRespond | None,
    client: AsyncWebClient,
) -> BoltResponse | None:
    """Bolt's error handler: for what a listener or middleware raised before acknowledging
    (``commands.guard`` reports what comes after)."""
    if not context.get(VERIFIED):
        # Defence in depth: commands.transport lets only verified requests in. Whatever
        # this body says (a response_url, a user, a channel) came from nobody we know,
        # so nothing is sent anywhere and nothing of it is logged.
        log.warning("error on an unverified request (%s); nothing sent", type(error).__name__)
        return BoltResponse(status=401, body="")
    text = message_for(error, body)
    respond = pooled(respond, client)
    if response is None:  # already acknowledged
        await deliver(text, body, client, respond)
        return None
    # Not acknowledged yet: the acknowledgement itself carries the message.
    if body.get("type") == "view_submission":
        return _json({"response_action": "update", "view": modals.apology_view(text)})
    if "command" in body:
        return _json(messages.ephemeral(text))
    await deliver(text, body, client, respond)
    return BoltResponse(status=200, body="")


def register(app: AsyncApp) -> None:
    app.error(on_error)
