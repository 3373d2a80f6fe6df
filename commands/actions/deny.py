"""Deny on a deletion request: admins only; the room stays and the requester is told."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import errors
from commands import ids
from commands.actions.decision import admin_or_refuse, request_id, show_decision, tell_requester
from commands.context import SlackContext, actor
from commands.errors import guard
from commands.render import esc


def register(app: AsyncApp, ctx: SlackContext) -> None:
    async def deny(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
    ) -> None:
        await ack()
        user = body["user"]["id"]
        number = request_id(action)
        if not await admin_or_refuse(ctx, user, "deny", number, respond):
            return
        service = ctx.deps.service
        try:
            request = await service.deny_deletion(number, admin=actor(user))
        except errors.RequestAlreadyDecided as exc:
            await respond(text=esc(exc.message), response_type="ephemeral", replace_original=False)
            await show_decision(client, body, await service.get_request(number))
            return
        await show_decision(client, body, request)
        await tell_requester(
            client,
            request,
            f"<@{user}> denied your request #{request.id}: room *{esc(request.room_name)}* stays.",
        )

    app.action(ids.DENY_DELETION)(guard(deny))
