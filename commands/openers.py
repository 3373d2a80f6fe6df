"""Opening the room modals: one opener per modal, for the slash command and the button alike.

Each checks first what would make the submission fail for sure (a guest, no server, not an
owner), so the person learns it before filling anything in. ``channel`` is where the
modal was opened from, if anywhere (not from the Home tab): the submission answers there.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.models import Role, Room
from commands import ids
from commands.blocks import modals
from commands.context import SlackContext, actor


def _metadata(channel: str | None, **values: Any) -> dict[str, Any]:
    return {**values, "channel": channel} if channel else values


async def open_create(
    ctx: SlackContext,
    client: AsyncWebClient,
    user_id: str,
    trigger_id: str,
    channel: str | None,
    name: str = "",
) -> None:
    """The create modal, with a free conference ID filled in (and ``name``, if given)."""
    service = ctx.deps.service
    await service.refuse_guest(actor(user_id), await ctx.role(user_id), "create rooms", "room")
    await service.require_server()  # say so now rather than after the form is filled in
    view = modals.room_form(
        callback_id=ids.CREATE_VIEW,
        title="Create a room",
        submit="Create",
        name=name,
        suggested_id=await service.suggest_conference_id(),
        metadata=_metadata(channel),
    )
    await client.views_open(trigger_id=trigger_id, view=view)


async def open_edit(
    ctx: SlackContext,
    client: AsyncWebClient,
    user_id: str,
    trigger_id: str,
    channel: str | None,
    room_id: int,
) -> None:
    """The edit modal of a room its owners and the admins may edit."""
    role = await ctx.role(user_id)
    room = await ctx.deps.service.require_manager(room_id, actor(user_id), role, "edit it")
    view = modals.room_form(
        callback_id=ids.EDIT_VIEW,
        title="Edit room",
        submit="Save",
        room=room,
        metadata=_metadata(channel, room_id=room.id),
    )
    await client.views_open(trigger_id=trigger_id, view=view)


async def open_delete(
    ctx: SlackContext,
    client: AsyncWebClient,
    user_id: str,
    trigger_id: str,
    channel: str | None,
    room: Room,
) -> None:
    """Confirm a deletion: an admin's happens at once, anyone else's asks the admins."""
    role = await ctx.role(user_id)
    await ctx.deps.service.refuse_guest(actor(user_id), role, "ask to delete rooms", room.name)
    view = modals.delete_modal(
        room,
        ctx.deps.tracker.count(room.id),
        ctx.pbx_online,
        admin=role is Role.ADMIN,
        metadata=_metadata(channel, room_id=room.id),
    )
    await client.views_open(trigger_id=trigger_id, view=view)
