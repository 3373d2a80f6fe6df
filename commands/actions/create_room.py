"""The "Create a room" button (help message and Home tab): the create modal."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from commands import ids, render
from commands.context import SlackContext, actor
from commands.errors import guard


def register(app: AsyncApp, ctx: SlackContext) -> None:
    async def create_room(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user = body["user"]["id"]
        role = await ctx.role(user)
        await ctx.deps.service.refuse_guest(actor(user), role, "create rooms", "room")
        await ctx.deps.service.require_server()
        view = render.room_form(
            callback_id=ids.CREATE_VIEW,
            title="Create a room",
            submit="Create",
            suggested_id=await ctx.deps.service.suggest_conference_id(),
            metadata={"channel": (body.get("channel") or {}).get("id", "")},
        )
        await client.views_open(trigger_id=body["trigger_id"], view=view)

    app.action(ids.HELP_CREATE)(guard(create_room))
