"""The "Edit" button of a room on the Home tab: the edit modal."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from commands import ids, render
from commands.context import SlackContext, actor
from commands.errors import guard


def register(app: AsyncApp, ctx: SlackContext) -> None:
    async def edit_room(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        user = body["user"]["id"]
        room = await ctx.deps.service.require_manager(
            int(action["value"]), actor(user), await ctx.role(user), "edit it"
        )
        view = render.room_form(
            callback_id=ids.EDIT_VIEW,
            title="Edit room",
            submit="Save",
            room=room,
            metadata={"room_id": room.id},
        )
        await client.views_open(trigger_id=body["trigger_id"], view=view)

    app.action(ids.ROOM_EDIT)(guard(edit_room))
