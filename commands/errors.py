"""The Slack front end's one error handler.

A domain error's message goes to the person as it is. Anything else is logged with a short
correlation id, and the person gets an apology carrying that id; no stack trace reaches Slack.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.kwargs_injection.async_args import AsyncArgs
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import DomainError
from commands import render
from commands.context import SlackContext
from commands.notify import metadata, tell
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
        return render.esc(error.message)  # it may quote a room name someone typed
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


Listener = Callable[..., Awaitable[None]]


def guard(listener: Listener) -> Callable[[AsyncArgs], Awaitable[None]]:
    """Run a listener so Slack gets its acknowledgement the moment it calls ``ack()``.

    The app runs with ``process_before_response=True``: Bolt answers when the registered
    function returns. The listener therefore runs as a task, and this returns as soon as
    it has acknowledged (or finished). What it raises before ``ack()`` goes to Bolt's error
    handler, which answers in the acknowledgement itself; what it raises after is reported
    here, to the person, with the same wording.

    (Bolt's own background mode polls for the ack every 10 ms, and loses the ack when a
    listener fails after it, so Slack would wait out its 3-second timeout.)
    """
    names = list(inspect.signature(listener).parameters)
    running: set[asyncio.Task[None]] = set()

    async def guarded(args: AsyncArgs) -> None:
        acked = asyncio.Event()

        async def ack(*ack_args: Any, **ack_kwargs: Any) -> BoltResponse:
            response = await args.ack(*ack_args, **ack_kwargs)
            acked.set()
            return response

        kwargs = {name: ack if name == "ack" else getattr(args, name) for name in names}
        if "ack" not in names:  # Bolt acknowledges events itself
            acked.set()

        async def run() -> None:
            try:
                await listener(**kwargs)
            except Exception as error:
                if not acked.is_set():
                    raise
                body = args.body
                await deliver(message_for(error, body), body, args.client, args.respond)

        task = asyncio.create_task(run())
        running.add(task)
        task.add_done_callback(running.discard)
        waiting = asyncio.create_task(acked.wait())
        await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if task.done() and not acked.is_set():
            task.result()  # raise what failed before the acknowledgement

    # Bolt injects arguments by parameter name, so ``guarded`` must not look like
    # ``listener`` to inspect (no functools.wraps); the names are for Bolt's log lines.
    guarded.__name__ = listener.__name__
    guarded.__qualname__ = listener.__qualname__
    return guarded


def register(app: AsyncApp, ctx: SlackContext) -> None:
    async def on_error(
        error: Exception,
        body: dict[str, Any],
        context: AsyncBoltContext,
        response: BoltResponse | None,
        respond: AsyncRespond | None,
        client: AsyncWebClient,
    ) -> BoltResponse | None:
        if not context.get(VERIFIED):
            # Defence in depth: commands.transport lets only verified requests in. Whatever
            # this body says (a response_url, a user, a channel) came from nobody we know,
            # so nothing is sent anywhere and nothing of it is logged.
            log.warning("error on an unverified request (%s); nothing sent", type(error).__name__)
            return BoltResponse(status=401, body="")
        text = message_for(error, body)
        if response is None:  # already acknowledged
            await deliver(text, body, client, respond)
            return None
        # Not acknowledged yet: the acknowledgement itself carries the message.
        if body.get("type") == "view_submission":
            return _json({"response_action": "update", "view": render.apology_view(text)})
        if "command" in body:
            return _json(render.ephemeral(text))
        await deliver(text, body, client, respond)
        return BoltResponse(status=200, body="")

    app.error(on_error)
