"""The delete modal submitted. An admin's own delete happens now; anyone else's becomes a
request in the admins' channel, with Approve and Deny."""

from __future__ import annotations

import logging

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.models import Role
from commands import ids
from commands.blocks.deletions import deletion_request
from commands.blocks.kit import esc
from commands.context import Payload, SlackContext, actor
from commands.notify import metadata, slack_error, tell
from commands.views import state

log = logging.getLogger(__name__)


async def delete_room(
    ctx: SlackContext, ack: AsyncAck, body: Payload, view: Payload, client: AsyncWebClient
) -> None:
    # Nothing here can be fixed in the form (Slack enforces the reason's length), so
    # close it at once and report by message.
    await ack()
    user = body["user"]["id"]
    meta = metadata(view)
    channel = meta.get("channel") or None
    service = ctx.deps.service
    room = await service.get_room_by_id(int(meta["room_id"]))
    count = ctx.deps.tracker.count(room.id)
    role = await ctx.role(user)
    # By the stable id resolved when the modal opened: a rename or re-numbering since
    # then must not make this act on another room.
    if role is Role.ADMIN:
        await service.delete_room(room.id, actor=actor(user))
        gone = f" The {count} caller(s) in it were disconnected." if count else ""
        await tell(client, user, f"Room *{esc(room.name)}* is deleted.{gone}", channel=channel)
        return
    request = await service.request_deletion(
        room.id,
        requester=actor(user),
        reason=state.text(view, ids.REASON_BLOCK),
        role=role,
    )
    posted = False
    if ctx.admin_channel:
        message = deletion_request(request, count, ctx.pbx_online)
        try:
            await client.chat_postMessage(channel=ctx.admin_channel, **message)
            posted = True
        except SlackApiError as exc:
            log.error(
                "could not post deletion request #%s to %s: %s",
                request.id,
                ctx.admin_channel,
                slack_error(exc),
            )
    else:
        log.warning(
            "SLACK_ADMIN_CHANNEL is not set; request #%s is only in the database", request.id
        )
    if posted:
        text = (
            f"Request #{request.id} to delete room *{esc(room.name)}* is with the admins. "
            "You will hear back here when one of them decides."
        )
    else:
        text = (
            f"Request #{request.id} to delete room *{esc(room.name)}* is filed, but I could "
            "not post it to the admins' channel. Ask an admin to decide it "
            f"(`conference-bot requests approve {request.id}`)."
        )
    await tell(client, user, text, channel=channel)
