"""One run of ``/conference``: the parsed words plus what a subcommand needs to answer."""

from __future__ import annotations

from dataclasses import dataclass

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.service import ConferenceService
from commands.context import SlackContext, actor


@dataclass(frozen=True, slots=True)
class Invocation:
    ctx: SlackContext
    client: AsyncWebClient
    respond: AsyncRespond
    user_id: str
    channel_id: str
    trigger_id: str
    args: list[str]

    @property
    def actor(self) -> str:
        return actor(self.user_id)

    @property
    def service(self) -> ConferenceService:
        return self.ctx.deps.service

    async def say(self, text: str) -> None:
        """Answer the person who typed the command, and only them."""
        await self.respond(text=text, response_type="ephemeral")
