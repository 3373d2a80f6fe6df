"""The "Join from browser" button (dial-in cards, the roster): the clicker gets, privately,
a one-time link of their own to the room's join page, or the text saying that browser join
is not set up and how to set it up.

The service decides what the link may do (owners and admins skip the PIN; guests are asked
for it; people of another workspace get none) and audits it; this only asks Slack who the
clicker is and delivers the answer (ephemeral, or a DM from a modal).
"""

from __future__ import annotations

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import errors
from bot.service.weblinks import IssuedLink
from commands.blocks.kit import esc, parse_id
from commands.context import Payload, SlackContext, actor
from commands.error_handler import deliver
from web.settings import NOT_SET_UP


def link_text(url: str, issued: IssuedLink) -> str:
    until = issued.expires_at.strftime("%H:%M UTC")
    pin = "" if issued.link.trusted else " If the room has a PIN, the page asks for it."
    return (
        f":globe_with_meridians: <{url}|Join {esc(issued.link.room_name)} from your browser>"
        f" — works once, for you only, until {until} (10 minutes).{pin} Do not share it: "
        "whoever opens it first joins as you."
    )


async def join_from_browser(
    ctx: SlackContext,
    ack: AsyncAck,
    body: Payload,
    action: Payload,
    client: AsyncWebClient,
    respond: AsyncRespond,
) -> None:
    await ack()
    user = body["user"]["id"]
    web = ctx.deps.web
    if web is None:
        await deliver(f":information_source: {NOT_SET_UP}", body, client, respond)
        return
    room_id = parse_id(str(action.get("value") or ""))
    if room_id is None:
        raise errors.InvalidInput("That button is out of date; post a fresh dial-in card.")
    person = await ctx.admins.person(user)
    issued = await ctx.deps.service.issue_web_link(
        room_id, user=user, name=person.name, role=person.role,
        in_workspace=person.in_workspace, credentials=web.credentials, actor=actor(user),
    )  # fmt: skip
    await deliver(link_text(web.link(issued.token), issued), body, client, respond)
