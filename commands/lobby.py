"""Asks a room's owners in Slack about each caller waiting in its lobby, and keeps that
message true to what became of the caller.

:class:`LobbyDesk` listens to the lobby's AMI side (``telephony.lobby.PbxLobby``):

- a caller starts waiting: the service records the request, and a message with Admit and
  Refuse goes to the channel of the room's most recent dial-in card (else, or when that
  post fails, the admins' channel);
- a caller stops waiting (admitted, refused, timed out, hung up): the message shows what
  happened and who decided, once the dialplan confirmed it;
- on every (re)connect the waiting requests are matched with the AstDB keys: a caller who
  stopped waiting while the bot was away has their message updated (timed out once past
  the limit, else hung up, or the decision made before the bot went away), and a caller
  who arrived meanwhile is read from the channel and asked about.

The buttons are ``commands.actions.lobby``; the decision goes through the service (owners
and admins only, audited).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import errors
from bot.models import LobbyRequest, LobbyStatus
from bot.service import ConferenceService
from bot.service.lobby import expired
from commands.blocks.lobby import lobby_settled, lobby_waiting
from commands.budget import SlackBudget
from commands.notify import slack_error
from telephony.errors import PbxActionFailed, PbxUnavailable
from telephony.lobby import LobbyArrival, LobbyDone, LobbyKey, PbxLobby
from telephony.naming import LOBBY_ADMIT, LOBBY_REFUSE, LOBBY_WAITING

log = logging.getLogger(__name__)

_STATUS = {
    "admitted": LobbyStatus.ADMITTED,
    "refused": LobbyStatus.REFUSED,
    "timeout": LobbyStatus.TIMEOUT,
    "left": LobbyStatus.LEFT,
}


class LobbyDesk:
    """Posts and updates the lobby messages; see the module docstring."""

    def __init__(
        self,
        lobby: PbxLobby,
        service: ConferenceService,
        client: AsyncWebClient,
        admin_channel: str | None,
        *,
        clock: Callable[[], float] = time.time,
        budget: SlackBudget | None = None,
    ) -> None:
        """``budget``: the live messages' Slack budget (``LiveCards.budget``), which each
        message's update draws on."""
        self._budget = budget
        self._lobby = lobby
        self._service = service
        self._client = client
        self._admin_channel = admin_channel
        self._clock = clock
        self._lock = asyncio.Lock()  # one arrival, departure or catch-up at a time
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        self._unsubscribe = self._lobby.add_listener(self)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # -- LobbyListener --------------------------------------------------------------------

    async def arrived(self, arrival: LobbyArrival) -> None:
        async with self._lock:
            await self._arrived(arrival)

    async def done(self, done: LobbyDone) -> None:
        async with self._lock:
            request = await self._service.lobby_finished(done.uniqueid, _STATUS[done.result])
            if request is not None:
                await self._show(request)

    async def reconciled(self, keys: dict[str, LobbyKey], lobby: PbxLobby) -> None:
        async with self._lock:
            known: set[str] = set()
            for request in await self._service.lobby_waiting():
                known.add(request.uniqueid)
                key = keys.get(request.uniqueid)
                if key is not None:
                    if request.ts is None:  # the post failed before: try again
                        await self._post(request)
                    continue
                outcome = await self._outcome_while_away(request)
                finished = await self._service.lobby_finished(request.uniqueid, outcome)
                if finished is not None:
                    await self._show(finished)
            for key in keys.values():
                if key.uniqueid in known or key.state != LOBBY_WAITING:
                    continue
                try:
                    arrival = await lobby.describe(key)
                except (PbxUnavailable, PbxActionFailed) as exc:
                    log.warning("could not read lobby caller %s back: %s", key.uniqueid, exc)
                    continue
                if arrival is not None:
                    await self._arrived(arrival)

    # -- the messages ---------------------------------------------------------------------

    async def _outcome_while_away(self, request: LobbyRequest) -> LobbyStatus:
        """What became of a caller whose key vanished while the bot was away: the decision
        an owner made (the dialplan deletes the key once it carried it out), else the time
        limit, or a hang-up before it."""
        if request.decided_by is not None:
            admitted = await self._service.lobby_decision(request)
            if admitted is not None:
                return LobbyStatus.ADMITTED if admitted else LobbyStatus.REFUSED
        return LobbyStatus.TIMEOUT if expired(request, self._clock()) else LobbyStatus.LEFT

    async def _arrived(self, arrival: LobbyArrival) -> None:
        try:
            request, _room = await self._service.lobby_arrived(
                arrival.room_id, arrival.uniqueid, caller_number=arrival.caller,
                caller_name=arrival.caller_name, endpoint=arrival.endpoint, until=arrival.until,
            )  # fmt: skip
        except errors.RoomNotFound:
            # A room deleted while its caller typed the PIN: nobody can admit them.
            log.info("lobby caller %s waits for a deleted room; refusing", arrival.uniqueid)
            await self._refuse_quietly(arrival)
            return
        if request.waiting and request.ts is None:
            await self._post(request)

    async def _refuse_quietly(self, arrival: LobbyArrival) -> None:
        try:
            await self._lobby.decide(arrival.room_id, arrival.uniqueid, admit=False)
        except (PbxUnavailable, PbxActionFailed) as exc:
            log.warning("could not refuse lobby caller %s: %s", arrival.uniqueid, exc)

    async def _channel(self, request: LobbyRequest) -> str | None:
        """The channel of the room's most recent dial-in card, else the admins'."""
        if request.room_id is not None:
            cards = await self._service.cards(request.room_id)
            if cards:
                return cards[-1].channel
        return self._admin_channel

    async def _post(self, request: LobbyRequest) -> None:
        message = lobby_waiting(request)
        first = await self._channel(request)
        tried: list[str] = []
        for channel in dict.fromkeys(c for c in (first, self._admin_channel) if c):
            tried.append(channel)
            try:
                posted = await self._client.chat_postMessage(channel=channel, **message)
            except SlackApiError as exc:
                log.warning("could not ask about lobby caller in %s: %s", channel,
                            slack_error(exc))  # fmt: skip
                continue
            await self._service.lobby_posted(request.id, str(posted["channel"]),
                                             str(posted["ts"]))  # fmt: skip
            return
        log.error("nobody was asked about lobby request %s (tried %s; set SLACK_ADMIN_CHANNEL)",
                  request.id, ", ".join(tried) or "no channel")  # fmt: skip

    async def _show(self, request: LobbyRequest) -> None:
        if request.channel is None or request.ts is None:
            return
        message: dict[str, Any] = lobby_settled(request)
        if self._budget is not None:
            await self._budget.spend("chat.update")
        try:
            await self._client.chat_update(channel=request.channel, ts=request.ts, **message)
        except SlackApiError as exc:
            # What happened stands; a stale message is only cosmetic.
            log.warning("could not update lobby message %s/%s: %s", request.channel,
                        request.ts, slack_error(exc))  # fmt: skip


__all__ = ["LOBBY_ADMIT", "LOBBY_REFUSE", "LobbyDesk"]
