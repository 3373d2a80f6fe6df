"""The "Lock PIN entry" and "Unlock PIN entry" buttons of a room alert (admins only): one
listener, two directions.

Locking writes a time to the room's lockout entry that the dialplan honours: until then
everyone is refused at the room's PIN prompt. The alert message then says who did what and
offers the opposite button; both are audited.
"""

from __future__ import annotations

import logging
import time

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from commands.blocks.lockouts import pin_entry_changed
from commands.blocks.trunk import duration
from commands.context import Payload, SlackContext, actor
from commands.notify import slack_error
from commands.permissions import require_admin
from telephony.lockout_monitor import room_label

log = logging.getLogger(__name__)

LOCK, UNLOCK = True, False
NOT_SERVING = (
    "Lockouts are followed by the running server (`conference-bot serve`), which is not "
    "connected to the PBX right now. Nothing changed; try again in a minute."
)


async def pin_entry(
    ctx: SlackContext,
    lock: bool,
    ack: AsyncAck,
    body: Payload,
    action: Payload,
    client: AsyncWebClient,
    respond: AsyncRespond,
) -> None:
    await ack()
    user = body["user"]["id"]
    room_id = int(action["value"])
    what = "lock or unlock a room's PIN entry"
    if not await require_admin(ctx, user, respond, what, action="lockout.refused",
                               target=f"room #{room_id}"):  # fmt: skip
        return
    monitor = ctx.deps.lockouts
    if monitor is None:
        await respond(text=NOT_SERVING, response_type="ephemeral", replace_original=False)
        return
    store, service = monitor.store, ctx.deps.service
    room = await service.get_room_by_id(room_id)
    label = room_label(room, room_id)
    until: int | None = None
    if lock:
        until = await store.lock_room(room_id)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(until))
        await service.record(actor(user), "lockout.room_locked", label,
                             f"PIN entry of {label} locked for {duration(store.room_lock)}, "
                             f"until {stamp}")  # fmt: skip
    else:
        was_locked = await store.unlock_room(room_id)
        await service.record(actor(user), "lockout.room_unlocked", label,
                             f"PIN entry of {label} unlocked"
                             + ("" if was_locked else " (it was not locked)"))  # fmt: skip
    await _show(client, body, room_id, user, store.room_lock, until)


async def _show(
    client: AsyncWebClient, body: Payload, room_id: int, user: str, lock_for: float,
    until: int | None,
) -> None:  # fmt: skip
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    message = body.get("message") or {}
    ts = message.get("ts") or (body.get("container") or {}).get("message_ts")
    if not channel or not ts:
        return
    blocks = pin_entry_changed(list(message.get("blocks") or []), room_id, user, lock_for, until)
    text = "PIN entry locked" if until is not None else "PIN entry unlocked"
    try:
        await client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
    except SlackApiError as exc:
        # The lock stands; a stale message is only cosmetic.
        log.warning("could not update the alert %s/%s: %s", channel, ts, slack_error(exc))
