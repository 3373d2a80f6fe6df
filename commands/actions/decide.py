"""Approve and Deny on a deletion request (admins only): one listener, two verdicts.

Approve deletes the room (its callers hear a goodbye and are disconnected by the PBX sync);
Deny leaves it. Either way the request message shows the decision instead of the buttons,
and the requester is told.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import errors
from bot.models import DeletionRequest
from bot.service import ConferenceService
from commands.blocks.deletions import deletion_decided
from commands.blocks.kit import esc
from commands.context import Payload, SlackContext, actor, slack_user
from commands.notify import slack_error, tell
from commands.permissions import require_admin

log = logging.getLogger(__name__)

Decide = Callable[[ConferenceService, int, str], Awaitable[tuple[DeletionRequest, str]]]


@dataclass(frozen=True, slots=True)
class Verdict:
    verb: str  # what the admin does to the request
    done: str  # the same, as the requester is told
    outcome: str  # what became of the room
    decide: Decide  # (service, request, admin) -> the decided request and the room's name
    settled: tuple[type[errors.DomainError], ...]  # someone (or something) was quicker


async def _approve(
    service: ConferenceService, number: int, admin: str
) -> tuple[DeletionRequest, str]:
    request, room = await service.approve_deletion(number, admin=admin)
    return request, room.name


async def _deny(service: ConferenceService, number: int, admin: str) -> tuple[DeletionRequest, str]:
    request = await service.deny_deletion(number, admin=admin)
    return request, request.room_name


APPROVE = Verdict(
    "approve", "approved", "is deleted", _approve, (errors.RequestAlreadyDecided, errors.RoomGone)
)
DENY = Verdict("deny", "denied", "stays", _deny, (errors.RequestAlreadyDecided,))


async def decide(
    ctx: SlackContext,
    verdict: Verdict,
    ack: AsyncAck,
    body: Payload,
    action: Payload,
    client: AsyncWebClient,
    respond: AsyncRespond,
) -> None:
    await ack()
    user = body["user"]["id"]
    number = int(action["value"])
    what, target = f"{verdict.verb} deletion requests", f"request #{number}"
    refused = f"deletion.{verdict.verb}_refused"
    if not await require_admin(ctx, user, respond, what, action=refused, target=target):
        return
    service = ctx.deps.service
    try:
        request, room_name = await verdict.decide(service, number, actor(user))
    except verdict.settled as exc:
        await respond(text=esc(exc.message), response_type="ephemeral", replace_original=False)
        await show_decision(client, body, await service.get_request(number))
        return
    except errors.ChangeNotApplied as pending:
        # Decided and saved; the PBX has not taken it yet. The admin hears so plainly.
        await respond(text=f":warning: {esc(pending.message)}", response_type="ephemeral",
                      replace_original=False)  # fmt: skip
        request = await service.get_request(number)
        room_name = request.room_name
    await show_decision(client, body, request)
    told = f"<@{user}> {verdict.done} your request #{request.id}: room *{esc(room_name)}*"
    await tell_requester(client, request, f"{told} {verdict.outcome}.")


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
        await client.chat_update(channel=channel, ts=ts, **deletion_decided(request))
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
